// The foundation, end to end: sign up, log out and in, Enabled Packages with Upgrade needed
// until the operator grants live processing through the CLI, create a stream group with
// transcoding profiles, and copy its publish key.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, visit, shot, signUp, logIn, hydrated } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({ extraArgs: ['--srt-listen', '127.0.0.1:0'] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a newcomer signs up, sees Enabled Packages, creates a stream group and copies its key', async () => {
  const context = await browser.newContext();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  const page = await context.newPage();

  const creds = await signUp(page, server);
  await page.getByText('No streams yet.').waitFor();
  await shot(page, 'streams-empty');

  // Log out, then a wrong password and an unknown user get the same answer.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL('**/login');
  await logIn(page, server, { email: creds.email, password: 'wrong password!' });
  const wrongPassword = await page.getByRole('alert').textContent();
  await logIn(page, server, { email: 'nobody@example.com', password: 'wrong password!' });
  const unknownUser = await page.getByRole('alert').textContent();
  assert.equal(wrongPassword, unknownUser);
  assert.match(wrongPassword, /Wrong e-mail or password/);
  await shot(page, 'login-error');
  await logIn(page, server, creds);
  await page.waitForURL('**/streams');
  await hydrated(page);

  // Enabled Packages: live processing needs an upgrade until the operator grants it.
  await visit(page, server, '/organisation');
  const live = page.locator('#enabled-packages tr[data-package="live_processing"]');
  await live.getByText('Upgrade needed').waitFor();
  assert.match(await page.locator('#enabled-packages tr[data-package="transcoding"]').textContent(), /Enabled/);
  await shot(page, 'organisation-upgrade-needed');
  const list = await server.cli('org', 'list');
  const slug = list.trim().split('\n')[0].split('\t')[1];
  assert.equal(slug, 'acme-live');
  await server.cli('org', 'enable-package', slug, 'live_processing');
  await visit(page, server, '/organisation');
  await live.getByText('Enabled').waitFor();
  assert.doesNotMatch(await live.textContent(), /Upgrade needed/);
  await shot(page, 'organisation-enabled');

  // Create a stream group with three transcoding profiles and live processing settings.
  await visit(page, server, '/streams/new');
  await page.getByLabel('Name', { exact: true }).fill('Main stage');
  await page.getByLabel(/^Transcoding \(make a stream group/).check();
  await page.getByRole('tab', { name: '720p' }).waitFor();
  // An out-of-range value is named next to its field, and blocks creation.
  await page.getByLabel('Thumbnail enabled').check();
  await page.locator('#s0-thumbnail-interval').fill('9');
  await page.getByText('Thumbnail interval must be 10–3600 s; got 9').waitFor();
  await page.getByRole('button', { name: 'Create stream' }).click();
  await shot(page, 'new-stream-invalid');
  assert.match(page.url(), /\/streams\/new$/);
  await page.locator('#s0-thumbnail-interval').fill('15');
  await page.getByRole('button', { name: 'Sync settings across profiles' }).click();
  await page.getByText('Copied the Source settings to 3 profiles').waitFor();
  await page.getByRole('tab', { name: '360p' }).click();
  assert.equal(await page.locator('#s3-thumbnail-interval').inputValue(), '15');
  await shot(page, 'new-stream');
  await page.getByRole('button', { name: 'Create stream' }).click();
  await page.waitForURL(/\/streams\/\d+$/);
  await hydrated(page);

  // The overview lists the ingest and the profiles, and shows a copyable key (the rows come
  // with the group's data, fetched after hydration: wait for them, do not race them).
  await page.locator('table.details tbody tr').nth(3).waitFor();
  const qualities = await page.locator('table.details tbody tr td:nth-child(2)').allTextContents();
  assert.deepEqual(qualities, ['Source', '1080p', '720p', '360p']);
  const key = (await page.locator('#stream-key').textContent()).trim();
  assert.match(key, /^sk_[A-Za-z0-9_-]{32}$/);
  assert.match(await page.locator('#publish-url').textContent(), new RegExp(`^rtmp://127\\.0\\.0\\.1:\\d+/live/${key}$`));
  // SRT beside RTMP: the whole URL, then a passphrase set here joins it.
  assert.match(await page.locator('#srt-url').textContent(), new RegExp(`^srt://127\\.0\\.0\\.1:\\d+\\?streamid=${key}$`));
  await page.getByText('None: SRT publishes are not encrypted.').waitFor();
  await page.getByLabel('New SRT passphrase').fill('stage-door-42');
  await page.getByRole('button', { name: 'Save passphrase' }).click();
  await page.locator('#srt-passphrase code').getByText('stage-door-42').waitFor();
  assert.equal(await page.getByLabel('New SRT passphrase').inputValue(), '', 'a saved secret does not stay in the form');
  // The reconnect grace: the server's default (10 s) until the group sets its own.
  await page.getByText(/publishes again within 10 s/).waitFor();
  await page.getByLabel('Reconnect grace (s)').fill('25');
  await page.getByRole('button', { name: 'Save grace' }).click();
  await page.getByText(/publishes again within 25 s/).waitFor();
  assert.match(await page.locator('#srt-url').textContent(), new RegExp(`^srt://127\\.0\\.0\\.1:\\d+\\?streamid=${key}&passphrase=stage-door-42$`));
  await page.getByRole('button', { name: 'Copy stream key' }).click();
  await page.getByRole('button', { name: 'Copy stream key' }).getByText('Copied').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);
  await shot(page, 'stream-overview');

  // The Live Processing tab shows the settings chosen at creation.
  await page.getByRole('link', { name: 'Live Processing', exact: true }).click();
  const intervals = page.locator('table[data-process="thumbnail"] tbody tr td:nth-child(5)');
  await intervals.first().waitFor();
  assert.deepEqual(await intervals.allTextContents(), ['15', '15', '15', '15']);
  assert.match(await page.locator('table[data-process="thumbnail"] tbody tr td:nth-child(1)').first().textContent(), /^Active/);
  // Only the enabled processes have a section; the others are named, each with a way to
  // enable it.
  const others = page.locator('#not-enabled');
  await others.locator('.missing').getByText('Live Replay, Recording', { exact: true }).waitFor();
  assert.equal(await page.locator('#replay').count(), 0);
  assert.equal(await page.locator('#recording').count(), 0);
  await shot(page, 'stream-processing');
  await others.getByRole('button', { name: 'Enable Recording…' }).click();
  const dialog = page.locator('dialog.modal');
  await dialog.waitFor({ state: 'visible' });
  await dialog.getByLabel('Recording enabled').first().check();
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.getByText(/^Saved/).waitFor();
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  await page.locator('#recording').waitFor();
  await others.locator('.missing').getByText('Live Replay', { exact: true }).waitFor();

  // Phone width stays readable.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.locator('#stream-key').waitFor();
  await shot(page, 'stream-overview-phone');
  await context.close();
});
