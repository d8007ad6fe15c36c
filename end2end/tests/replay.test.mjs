// Replay end to end, against the real server and a real published stream: Rewatch plays;
// Clip & Share makes a clip whose link plays in a fresh browser with no cookies; the MP4
// download probes to the clip's length within one GOP; the clip still plays after the
// replay window rolled past it; revoked and expired links show not-found; a span of the
// buffer is saved as a recording. Screenshots of the player and the share page, desktop
// and phone.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launchBrowser, visit, shot, signUp, publish, eventually, createGroup, playing, hydrated } from './harness.mjs';

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

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

/** Opens a share link in a fresh context (no cookies); returns its page and context. */
async function openShared(path, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const code = [];
  page.on('response', (r) => { if (new URL(r.url()).pathname.startsWith('/pkg/')) code.push(r); });
  const response = await page.goto(server.url + path);
  return { context, page, status: response.status(), code };
}

/**
 * What a viewer's browser downloaded of the app's code (`/pkg/`): files, bytes over the wire,
 * and whether every wasm file came gzipped.
 */
async function codeDownloaded(responses) {
  let bytes = 0;
  let allGzipped = true;
  for (const r of responses) {
    bytes += (await r.request().sizes()).responseBodySize;
    if (r.url().endsWith('.wasm') && r.headers()['content-encoding'] !== 'gzip') allGzipped = false;
  }
  return { files: responses.length, bytes, allGzipped };
}


/**
 * Hovers the player's storyboard bar at `fraction` of its width and checks the preview shows
 * the tile the WebVTT track names for that moment (its sprite and region), and that the
 * sprite really holds that region. Returns the cue.
 */
async function hoverStoryboard(page, fraction) {
  const bar = page.locator('.storyboard-bar');
  await eventually('storyboard cues', async () => Number(await bar.getAttribute('data-cues')) > 0, 40000);
  const box = await bar.boundingBox();
  await page.mouse.move(box.x + box.width * fraction, box.y + box.height / 2);
  return checkPreview(page, bar);
}

/**
 * Drags a finger along the storyboard bar (real touch events through the DevTools protocol)
 * from `from` to `to` of its width: the preview follows the finger with the right tile, and
 * letting go seeks the video there.
 */
async function dragStoryboard(page, from, to, name) {
  const bar = page.locator('.storyboard-bar');
  await eventually('storyboard cues', async () => Number(await bar.getAttribute('data-cues')) > 0, 40000);
  const box = await bar.boundingBox();
  const y = box.y + box.height / 2;
  const cdp = await page.context().newCDPSession(page);
  const touch = (type, f) => cdp.send('Input.dispatchTouchEvent', {
    type,
    touchPoints: type === 'touchEnd' ? [] : [{ x: box.x + box.width * f, y }],
  });
  await touch('touchStart', from);
  const first = await checkPreview(page, bar);
  for (const f of [from + (to - from) / 2, to]) await touch('touchMove', f);
  const last = await checkPreview(page, bar);
  assert.ok(last.from >= first.from, 'the preview follows the finger forward');
  await shot(page, name);
  const before = await page.evaluate(() => document.querySelector('video.player').currentTime);
  await touch('touchEnd', to);
  await bar.locator('.storyboard-preview').waitFor({ state: 'hidden' });
  const target = await page.evaluate((f) => {
    const v = document.querySelector('video.player');
    const s = v.seekable;
    return s.length ? [v.currentTime, s.start(0) + f * (s.end(s.length - 1) - s.start(0))] : [v.currentTime, NaN];
  }, to);
  assert.ok(Math.abs(target[0] - target[1]) < 1.5 || target[0] > before + 0.5, `letting go seeks: ${before} -> ${target}`);
  return last;
}

/** Checks the preview of `bar` against the WebVTT track; returns the cue. */
async function checkPreview(page, bar) {
  const preview = bar.locator('.storyboard-preview');
  await preview.waitFor({ state: 'visible' });
  const time = Number(await bar.getAttribute('data-time'));
  const sprite = await preview.getAttribute('data-sprite');
  const xywh = await preview.getAttribute('data-xywh');
  const track = await page.evaluate(async (u) => {
    const r = await fetch(u, { cache: 'no-store' });
    return { text: await r.text(), url: r.url, type: r.headers.get('content-type') };
  }, await bar.getAttribute('data-track'));
  assert.match(track.type, /^text\/vtt/);
  const secs = (t) => t.trim().split(':').map(Number).reduce((a, v) => a * 60 + v, 0);
  const cues = track.text.split(/\n\n+/).filter((b) => b.includes('-->')).map((b) => {
    const [times, target] = b.trim().split('\n');
    const [from, to] = times.split('-->').map(secs);
    const [file, frag] = target.split('#xywh=');
    return { from, to, src: new URL(file, track.url).href, xywh: frag };
  });
  const cue = cues.find((c) => time >= c.from && time < c.to) ?? (time >= cues.at(-1).from ? cues.at(-1) : null);
  assert.ok(cue, `a cue for ${time} s in ${track.text}`);
  assert.equal(sprite, cue.src, `sprite for ${time} s`);
  assert.equal(xywh, cue.xywh, `region for ${time} s`);
  const [x, y, w, h] = xywh.split(',').map(Number);
  const size = await page.evaluate((src) => new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve([img.naturalWidth, img.naturalHeight]);
    img.onerror = () => resolve([0, 0]);
    img.src = src;
  }), sprite);
  assert.ok(size[0] >= x + w && size[1] >= y + h, `the sheet ${size} holds ${xywh}`);
  return cue;
}

function probeDuration(file) {
  return Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]).toString().trim());
}

function sql(statement) {
  execFileSync('python3', ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()', join(server.dataDir, 'livepro.db'), statement]);
}

test('Rewatch plays, Clip & Share makes links viewers open without an account', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  const page = await context.newPage();
  await signUp(page, server, { org: 'Stadium TV', email: 'rita@example.com' });
  const slug = (await server.cli('org', 'list')).trim().split('\n')[0].split('\t')[1];
  await server.cli('org', 'enable-package', slug, 'live_processing');
  const group = await createGroup(page, server, 'Final', { processing: true, replaySeconds: 20 });
  const key = (await page.locator('#stream-key').textContent()).trim();
  publisher = publish(`${server.rtmp}/${key}`, { seconds: 300 });

  // Rewatch from the tab: the live replay plays in the browser.
  await visit(page, server, `/streams/${group}/processing`);
  const session = page.locator('table[data-assets="replay"] tbody tr').first();
  await eventually('the live replay', async () => (await session.count()) === 1 && (await session.getByText('● Live').count()) === 1);
  await session.getByRole('link', { name: /Rewatch/ }).click();
  await page.waitForURL(new RegExp(`/streams/${group}/replay/\\d+$`));
  await playing(page);
  await page.locator('.strip.timeline img').first().waitFor();
  await shot(page, 'replay-player');
  // Seek-bar previews: the tile of the moment under the pointer, early and late.
  const early = await hoverStoryboard(page, 0.1);
  const late = await hoverStoryboard(page, 0.97);
  assert.ok(late.from >= early.from);
  await shot(page, 'replay-storyboard');
  await page.mouse.move(0, 0);

  // Mark in, let 4 s play, mark out, title, create: instant, with a share link.
  const panel = page.locator('#clip-panel');
  await panel.getByRole('button', { name: 'Mark in' }).click();
  // Until about 4 s have played (by the player's own clock, not a fixed wait).
  const markedIn = await page.locator('video.player').evaluate((v) => v.currentTime);
  await page.waitForFunction((t0) => document.querySelector('video.player').currentTime >= t0 + 3.6, markedIn, { timeout: 20000 });
  await panel.getByRole('button', { name: 'Mark out' }).click();
  await panel.getByRole('button', { name: 'in point 1 s earlier' }).click();
  assert.match(await panel.locator('.clip-length').textContent(), /^Length [45]\.\d s$/);
  await panel.getByLabel('Title').fill('Winning goal');
  const createdAt = Date.now();
  await panel.getByRole('button', { name: 'Create clip' }).click();
  const created = panel.locator('.notice-box.created');
  await created.waitFor();
  const link = await created.locator('a.share-link').getAttribute('href');
  assert.match(link, /^\/s\/[A-Za-z0-9_-]{32}$/);
  await created.getByRole('button', { name: 'Copy share link' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), server.url + link);
  await shot(page, 'replay-clip-created');

  // A viewer with no account opens it and it plays, on a desktop and on a phone.
  let viewer = await openShared(link);
  assert.equal(viewer.status, 200);
  await viewer.page.getByRole('heading', { name: 'Winning goal' }).waitFor();
  assert.equal(await viewer.page.locator('meta[property="og:title"]').getAttribute('content'), 'Winning goal');
  await playing(viewer.page, 'video.player', 0.5);
  await shot(viewer.page, 'share-desktop');
  // The viewer downloads the shell and the share page's chunks, gzipped, not the dashboard.
  await hydrated(viewer.page);
  const code = await codeDownloaded(viewer.code);
  console.log(`share page code: ${code.files} files, ${code.bytes} bytes over the wire`);
  assert.ok(code.allGzipped, 'every wasm file is sent gzipped');
  assert.ok(code.files > 2, 'the share page came as its own chunks');
  assert.ok(code.bytes < 800 * 1024, `${code.bytes} bytes of code for a share page`);
  await viewer.context.close();
  viewer = await openShared(link, PHONE);
  await playing(viewer.page, 'video.player', 0.5);
  await shot(viewer.page, 'share-phone');
  // Seek previews by touch: drag along the bar, let go to seek.
  await dragStoryboard(viewer.page, 0.2, 0.8, 'share-phone-storyboard-drag');
  await viewer.context.close();

  // The MP4 download, made by stream copy, lasts the clip within one GOP (1 s).
  const row = page.locator('table[data-list="clips"] tbody tr', { hasText: 'Winning goal' });
  const mp4 = row.getByRole('link', { name: /MP4/ });
  await mp4.waitFor({ timeout: 30000 });
  const clipSeconds = Number((await row.locator('td:nth-child(3)').textContent()).replace(' s', ''));
  const body = await (await page.request.get(server.url + (await mp4.getAttribute('href')))).body();
  const file = join(server.dataDir, 'clip-download.mp4');
  writeFileSync(file, body);
  const seconds = probeDuration(file);
  assert.ok(Math.abs(seconds - clipSeconds) <= 1.0, `MP4 lasts ${seconds} s, clip ${clipSeconds} s`);

  // Save the last minute of the buffer as a recording.
  await page.locator('#save-seconds').selectOption('60');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText(/^Saved a recording of/).waitFor();

  // Once the 20 s window has rolled past the clip, it still plays.
  const replayUrl = await page.locator('video.player').getAttribute('data-src');
  await eventually('the replay window to roll past the clip', async () => {
    const text = await (await page.request.get(server.url + replayUrl)).text();
    const first = text.match(/#EXT-X-PROGRAM-DATE-TIME:(\S+)/);
    return first && Date.parse(first[1]) > createdAt + 1000;
  }, 60000);
  viewer = await openShared(link);
  await playing(viewer.page, 'video.player', 1);
  await viewer.context.close();

  // Revoked: not found.
  await page.reload();
  await row.getByRole('button', { name: 'Revoke link' }).click();
  await row.getByText('Revoked').waitFor();
  viewer = await openShared(link);
  assert.equal(viewer.status, 404);
  await viewer.page.getByRole('heading', { name: 'Not found' }).waitFor();
  await shot(viewer.page, 'share-not-found');
  const revokedText = await viewer.page.locator('main').textContent();
  await viewer.context.close();

  // Expired: not found, the same page as a token that never existed.
  await page.locator('#clip-panel').getByRole('button', { name: 'Clip the last 30 s' }).click();
  const second = await page.locator('#clip-panel .notice-box.created a.share-link').getAttribute('href');
  assert.notEqual(second, link);
  viewer = await openShared(second);
  assert.equal(viewer.status, 200);
  // The share page has the same previews.
  await playing(viewer.page, 'video.player', 0.5);
  await hoverStoryboard(viewer.page, 0.5);
  await shot(viewer.page, 'share-storyboard');
  await viewer.context.close();
  sql(`UPDATE share_links SET expires_at = '2020-01-01T00:00:00Z' WHERE token = '${second.slice(3)}'`);
  viewer = await openShared(second);
  assert.equal(viewer.status, 404);
  assert.equal(await viewer.page.locator('main').textContent(), revokedText);
  await viewer.context.close();
  viewer = await openShared('/s/' + 'x'.repeat(32));
  assert.equal(viewer.status, 404);
  assert.equal(await viewer.page.locator('main').textContent(), revokedText);
  await viewer.context.close();

  // The player page at phone width.
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'replay-player-phone');
  await context.close();
});
