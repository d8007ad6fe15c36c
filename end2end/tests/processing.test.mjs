// The Live Processing tab against the real server and a real published test stream in a
// group of three transcoding profiles: tabs per stream, a loaded thumbnail, a playing motion
// clip, the seeds' columns with real values, validation in the browser and on the server,
// Sync then Confirm, Refresh and the timed refresh, viewers without Edit (and refused when
// they craft an edit), and Upgrade needed without the package.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, visit, shot, signUp, logIn, hydrated, publish, eventually, createGroup } from './harness.mjs';

let server;
let browser;
let publisher;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await publisher?.stop();
  await browser?.close();
  await server?.stop();
});

const COLUMNS = {
  thumbnail: ['(In-)Active', 'Stream Name', 'Quality', 'URL', 'Interval (s)'],
  motion_clip: ['(In-)Active', 'Stream Name', 'Quality', 'URL', 'Interval (s)', 'Duration (s)'],
  replay: ['(In-)Active', 'Stream Name', 'Quality', 'Duration (s)'],
  recording: ['Active', 'Stream Name', 'Quality', 'Duration (s)'],
};

async function column(page, process, index) {
  return page.locator(`table[data-process="${process}"] tbody tr td:nth-child(${index})`).allTextContents();
}

test('the Live Processing tab shows real assets, edits with Confirm and follows roles', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // The page's timers on a clock the test can move (time flows normally until it does).
  await page.clock.install();
  await signUp(page, server, { org: 'Arena Live', email: 'olga@example.com' });

  // Without the package the tab says Upgrade needed and points to Enabled Packages.
  const lobby = await createGroup(page, server, 'Lobby');
  await visit(page, server, `/streams/${lobby}/processing`);
  await page.getByRole('heading', { name: 'Upgrade needed' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'Enabled Packages' }).getAttribute('href'), '/organisation#enabled-packages');
  assert.equal(await page.locator('#visual').count(), 0);
  await shot(page, 'processing-upgrade-needed');
  const slug = (await server.cli('org', 'list')).trim().split('\n')[0].split('\t')[1];
  await server.cli('org', 'enable-package', slug, 'live_processing');

  // A group of three profiles with every process on, fed by a real RTMP publisher.
  const group = await createGroup(page, server, 'Arena', { transcoding: true, processing: true });
  const key = (await page.locator('#stream-key').textContent()).trim();
  publisher = publish(`${server.rtmp}/${key}`, { seconds: 240 });
  await page.getByRole('link', { name: 'Live Processing', exact: true }).click();
  await page.waitForURL(`**/streams/${group}/processing`);
  const visual = page.locator('#visual');
  await visual.waitFor();

  // Tabs per stream, a thumbnail that has loaded, a motion clip that plays (none while the
  // disk is low: say so rather than time out).
  const low = await page.locator('#storage-low').allTextContents();
  assert.deepEqual(low, [], `the test machine's disk is low: ${low.join(' ')}`);
  assert.deepEqual(await visual.getByRole('tab').allTextContents(), ['Source', '1080p', '720p', '360p']);
  await page.waitForFunction(() => {
    const img = document.querySelector('#visual img.latest-thumbnail');
    return img && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 40000 });
  await page.waitForFunction(() => {
    const v = document.querySelector('#visual video.latest-clip');
    return v && !v.paused && v.currentTime > 0.2 && v.videoWidth > 0;
  }, null, { timeout: 40000 });
  assert.ok((await visual.locator('.strip[data-kind="thumbnail"] img').count()) >= 1);
  await visual.getByRole('tab', { name: '360p' }).click();
  await page.waitForFunction(() => {
    const img = document.querySelector('#visual img.latest-thumbnail');
    return img && img.complete && img.naturalWidth > 0 && img.alt.includes('360p');
  }, null, { timeout: 40000 });
  await visual.getByRole('tab', { name: 'Source' }).click();

  // The seeds' columns, a row per stream with the real values and the job states.
  for (const [process, heads] of Object.entries(COLUMNS)) {
    assert.deepEqual(await page.locator(`table[data-process="${process}"] thead th`).allTextContents(), heads, process);
    assert.deepEqual(await column(page, process, 3), ['Source', '1080p', '720p', '360p'], process);
  }
  assert.deepEqual(await column(page, 'thumbnail', 5), ['10', '10', '10', '10']);
  assert.deepEqual(await column(page, 'motion_clip', 6), ['2', '2', '2', '2']);
  assert.deepEqual(await column(page, 'recording', 4), ['Entire stream', 'Entire stream', 'Entire stream', 'Entire stream']);
  assert.deepEqual(await column(page, 'replay', 4), ['600', '600', '600', '600']);
  assert.match(await page.locator('table[data-process="thumbnail"] td.url a').first().textContent(), /^\/media\/streams\/\d+\/latest\.jpg$/);
  await eventually('every replay job running', async () =>
    (await page.locator('table[data-process="replay"] [data-job="running"]').count()) === 4);
  const replayRow = page.locator('table[data-assets="replay"] tbody tr').first();
  await replayRow.getByText('● Live').waitFor();
  assert.match(await replayRow.locator('td.url a').getAttribute('href'), /\/media\/replay\/\d+\/replay\.m3u8$/);
  assert.match(await replayRow.getByRole('link', { name: /Rewatch/ }).getAttribute('href'), new RegExp(`^/streams/${group}/replay/\\d+$`));
  assert.match(await replayRow.getByRole('link', { name: /Clip & Share/ }).getAttribute('href'), /\?clip=1$/);
  await page.locator('#recording').getByText('Recording now').waitFor();
  await shot(page, 'processing-live');

  // The timed refresh brings a newer thumbnail by itself; it pauses while the page is
  // hidden, and Refresh fetches at once.
  const thumb = visual.locator('img.latest-thumbnail');
  const src0 = await thumb.getAttribute('src');
  await eventually('a newer thumbnail from the timed refresh', async () => (await thumb.getAttribute('src')) !== src0, 30000);
  await page.evaluate(() => Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' }));
  const src1 = await thumb.getAttribute('src');
  // Three refresh periods pass on the page's clock in a moment: not one fetch.
  let fetched = 0;
  const count = (r) => { if (r.url().endsWith('/api/get_processing_overview')) fetched += 1; };
  page.on('request', count);
  await page.clock.runFor(15000);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
  page.off('request', count);
  assert.equal(fetched, 0, 'no timed refresh while hidden');
  assert.equal(await thumb.getAttribute('src'), src1);
  // Once the server has a newer thumbnail, Refresh shows it at once.
  await eventually('a newer thumbnail on the server', async () => {
    const r = await page.request.post(`${server.url}/api/get_processing_overview`, { form: { group_id: String(group) } });
    const o = await r.json();
    return o.assets[0].thumbnails[0]?.asset.url !== src1;
  }, 20000);
  await visual.getByRole('button', { name: /^Refresh/ }).click();
  await eventually('a newer thumbnail after Refresh', async () => (await thumb.getAttribute('src')) !== src1, 5000);
  await page.evaluate(() => Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' }));

  // Edit: an out-of-range value names itself and blocks Confirm; Escape discards.
  const dialog = page.locator('dialog.modal');
  await visual.getByRole('button', { name: /^Edit/ }).click();
  await dialog.waitFor({ state: 'visible' });
  await dialog.locator('#s0-thumbnail-interval').fill('9');
  await dialog.getByText('Thumbnail interval must be 10–3600 s; got 9').waitFor();
  assert.ok(await dialog.getByRole('button', { name: 'Confirm' }).isDisabled());
  for (let i = 0; i < 25; i++) {
    await page.keyboard.press('Tab');
    assert.ok(await page.evaluate(() => !!document.activeElement?.closest('dialog')), 'focus stays in the modal');
  }
  await shot(page, 'processing-edit-invalid');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.deepEqual(await column(page, 'thumbnail', 5), ['10', '10', '10', '10'], 'nothing was saved');

  // The server checks again with the same rules; its error shows next to the field.
  await page.route('**/api/update_processing', async (route) => {
    const body = JSON.parse(route.request().postData());
    body.changes[0].input.interval = 9;
    await route.continue({ postData: JSON.stringify(body) });
  });
  await visual.getByRole('button', { name: /^Edit/ }).click();
  await dialog.waitFor({ state: 'visible' });
  await dialog.locator('#s0-thumbnail-interval').fill('15');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.locator('#s0-thumbnail-interval-error').getByText('Thumbnail interval must be 10–3600 s; got 9').waitFor();
  await page.unroute('**/api/update_processing');
  // A click outside the modal discards.
  await page.mouse.click(5, 5);
  await dialog.waitFor({ state: 'hidden' });
  assert.deepEqual(await column(page, 'thumbnail', 5), ['10', '10', '10', '10']);

  // Sync settings across profiles, visibly, then Confirm: every profile's row changes.
  await visual.getByRole('button', { name: /^Edit/ }).click();
  await dialog.waitFor({ state: 'visible' });
  await dialog.locator('#s0-thumbnail-interval').fill('20');
  await dialog.getByRole('button', { name: 'Sync settings across profiles' }).click();
  await dialog.getByText('Copied the Source settings to 3 profiles').waitFor();
  await dialog.getByRole('tab', { name: '360p' }).click();
  assert.equal(await dialog.locator('#s3-thumbnail-interval').inputValue(), '20');
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.getByText('Saved. The stream is live: the change was applied now').waitFor();
  await shot(page, 'processing-edit-saved');
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
  await eventually('every row at 20 s', async () =>
    JSON.stringify(await column(page, 'thumbnail', 5)) === JSON.stringify(['20', '20', '20', '20']));
  await page.locator('#history summary').click();
  const history = page.locator('#history table tbody');
  await history.getByText('olga@example.com').first().waitFor();
  assert.equal(await history.locator('tr').count(), 4, 'one change per stream');
  assert.deepEqual(await history.locator('tr').first().locator('td').allTextContents().then((c) => c.slice(3)), ['Thumbnail', 'interval', '10', '20']);

  // Retention: the group keeps its recordings 30 days; a value out of range names itself.
  const retention = page.locator('#retention');
  await retention.locator('tr[data-kind="recording"] .in-force').getByText('Organisation default: Kept forever').waitFor();
  await page.locator('#retention-recording-mode').selectOption('limit');
  await page.locator('#retention-recording-days').fill('0');
  await retention.getByRole('button', { name: 'Save retention' }).click();
  await retention.getByText('Recordings: keep days must be 1–3650 days; got 0').waitFor();
  await page.locator('#retention-recording-days').fill('30');
  await retention.getByRole('button', { name: 'Save retention' }).click();
  await retention.getByText('Saved').waitFor();
  await retention.locator('tr[data-kind="recording"] .in-force').getByText('30 days', { exact: true }).waitFor();
  await retention.getByText('Nothing yet.').waitFor();
  await shot(page, 'processing-retention');

  // A viewer sees everything but no Edit, and a crafted edit is refused by the server.
  // The viewer joins by invitation: the admin passes on a link, the invitee picks a password.
  await visit(page, server, '/organisation');
  assert.match(await page.locator('#storage-use').textContent(), /^Storage: \d+\.\d MB \(no quota\)$/);
  // The organisation's default: thumbnails, the newest 500 per stream.
  await page.locator('#retention-thumbnail-mode').selectOption('limit');
  await page.locator('#retention-thumbnail-newest').fill('500');
  await page.locator('#retention').getByRole('button', { name: 'Save retention' }).click();
  await page.locator('#retention').getByText('Saved').waitFor();
  await page.locator('#retention tr[data-kind="thumbnail"] .in-force').getByText('Newest 500').waitFor();
  await page.locator('#inv-email').fill('vera@example.com');
  await page.locator('#inv-role').selectOption('viewer');
  await page.getByRole('button', { name: 'Create invitation' }).click();
  const link = (await page.locator('#invitation-link code.secret').textContent()).trim();
  assert.match(link, /^\/invite\/[A-Za-z0-9_-]{43}$/);
  await page.locator('#open-invitations').getByText('vera@example.com').waitFor();
  const viewerContext = await browser.newContext();
  const viewer = await viewerContext.newPage();
  await visit(viewer, server, link);
  await viewer.getByRole('heading', { name: /^Join / }).waitFor();
  await viewer.locator('#inv-name').fill('Vera Viewer');
  await viewer.locator('#inv-password').fill('vera chose this');
  await viewer.getByRole('button', { name: 'Accept and join' }).click();
  await viewer.waitForURL('**/streams');
  await visit(viewer, server, `/streams/${group}/processing`);
  await viewer.locator('#visual img.latest-thumbnail').waitFor();
  assert.equal(await viewer.getByRole('button', { name: /^Edit/ }).count(), 0);
  assert.equal(await viewer.getByRole('button', { name: /^Refresh/ }).count(), 3);
  assert.equal(await viewer.getByRole('link', { name: /Clip & Share/ }).count(), 0);
  await viewer.locator('#retention tr[data-kind="thumbnail"] .in-force').getByText('Organisation default: Newest 500').waitFor();
  assert.equal(await viewer.getByRole('button', { name: 'Save retention' }).count(), 0, 'viewers do not edit retention');
  const streamId = Number(await viewer.locator('table[data-process="thumbnail"] tbody tr').first().getAttribute('data-stream'));
  const crafted = await viewer.evaluate(async ({ group, streamId }) => {
    const r = await fetch('/api/update_processing', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ group_id: group, changes: [{ stream_id: streamId, kind: 'thumbnail', version: 2, input: { enabled: false, interval: 10, duration: null } }] }),
    });
    return { status: r.status, body: await r.text() };
  }, { group, streamId });
  assert.equal(crafted.status, 403, crafted.body);
  assert.match(crafted.body, /Forbidden/);
  await viewer.reload();
  await hydrated(viewer);
  await eventually('the rows after a reload', async () =>
    JSON.stringify(await column(viewer, 'thumbnail', 5)) === JSON.stringify(['20', '20', '20', '20']));
  assert.match((await column(viewer, 'thumbnail', 1))[0], /^Active/);
  await shot(viewer, 'processing-viewer');
  // The viewer is no server admin: the status page says who may see it.
  await visit(viewer, server, '/status');
  await viewer.getByText('only server admins see the server').waitFor();
  await viewerContext.close();

  // The operator's status page, made for a server admin, read on a phone while live.
  await server.cli('user', 'make-admin', 'olga@example.com');
  const phoneContext = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const phone = await phoneContext.newPage();
  await logIn(phone, server, { email: 'olga@example.com', password: 'correct horse battery' });
  await phone.waitForURL('**/streams');
  await visit(phone, server, '/status');
  await phone.locator('#live-count').getByText('1', { exact: true }).waitFor();
  await phone.locator('#live-sessions .live-row strong').getByText('Arena', { exact: true }).waitFor();
  // The nodes sharing the database: here this one, alive, owning the live group.
  await phone.locator('#nodes .node-row[data-state="alive"] .owns').getByText(/\/ Arena$/).waitFor();
  assert.equal(await phone.locator('#nodes .node-row').count(), 1);
  // The live session names its node as the Nodes section does: by its address.
  const nodeName = await phone.locator('#nodes .node-row strong').first().textContent();
  assert.ok((await phone.locator('#live-sessions .live-row').first().textContent()).includes(`on ${nodeName}`), `live row names ${nodeName}`);
  assert.match(await phone.locator('#cpu').textContent(), /^\d+ %$/);
  assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling on a phone');
  await shot(phone, 'status-phone');
  await phoneContext.close();

  // The session ends: the recording file appears, plays and downloads; the replay is closed.
  await publisher.stop();
  const recording = page.locator('#recording');
  await visit(page, server, `/streams/${group}/processing`);
  const file = recording.locator('table[data-assets="recording"] tbody tr').first();
  await eventually('the recording file', async () => (await file.count()) === 1, 60000);
  assert.match(await file.getByRole('link', { name: /Download/ }).getAttribute('download'), /^recording-\d{8}-\d{6}-\d+\.mp4$/);
  await file.getByRole('button', { name: /Play/ }).click();
  await page.waitForFunction(() => {
    const v = document.querySelector('#recording video.inline-player');
    return v && v.currentTime > 0.5;
  }, null, { timeout: 20000 });
  assert.equal(await page.locator('table[data-assets="replay"] tbody tr').first().getByText('● Live').count(), 0);
  await shot(page, 'processing-ended');

  // Share the recording: a link anyone opens without an account; it plays from start to end
  // on a desktop and on a phone, with seek-bar previews and an embed snippet.
  await file.getByRole('button', { name: 'Share', exact: true }).click();
  const shareLink = await file.locator('a.share-link').getAttribute('href');
  assert.match(shareLink, /^\/s\/[A-Za-z0-9_-]{32}$/);
  for (const [name, options] of [['desktop', { viewport: { width: 1280, height: 900 } }], ['phone', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }]]) {
    const ctx = await browser.newContext(options);
    const viewerPage = await ctx.newPage();
    const response = await viewerPage.goto(server.url + shareLink);
    assert.equal(response.status(), 200);
    await viewerPage.locator('video.player').waitFor();
    await viewerPage.locator('.storyboard-bar').waitFor();
    assert.match(await viewerPage.locator('code.embed-code').textContent(), /^<iframe src="http:\/\/[^"]+\/s\/[A-Za-z0-9_-]{32}"/);
    // Played through at 16× speed: it reaches its end.
    const ended = await viewerPage.evaluate(() => new Promise((resolve) => {
      const v = document.querySelector('video.player');
      v.muted = true;
      v.addEventListener('ended', () => resolve({ t: v.currentTime, d: v.duration }), { once: true });
      v.playbackRate = 16;
      v.play().catch((e) => resolve({ error: String(e) }));
      setTimeout(() => resolve({ timeout: true, t: v.currentTime, d: v.duration }), 60000);
    }));
    assert.ok(!ended.error && !ended.timeout, `played to the end on a ${name}: ${JSON.stringify(ended)}`);
    assert.ok(ended.d > 5 && Math.abs(ended.t - ended.d) < 0.5, JSON.stringify(ended));
    if (name === 'phone') {
      assert.ok(await viewerPage.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
    }
    await shot(viewerPage, `share-recording-${name}`);
    await ctx.close();
  }

  // Phone width stays readable.
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'processing-phone');
  await context.close();
});
