// Integrations from the dashboard: an admin makes an API key (shown once) that works on the
// REST API, registers a webhook to a real local receiver, and sees its deliveries in the log
// after a real stream went live; the API reference page is served without outside assets.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { startServer, launchBrowser, visit, shot, signUp, publish, eventually, createGroup } from './harness.mjs';

let server;
let browser;
let receiver;
const received = [];

before(async () => {
  // The receiver runs on loopback, which webhooks may reach only when the operator allows it.
  server = await startServer({ extraArgs: ['--webhook-allow-host', '127.0.0.1'] });
  browser = await launchBrowser();
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  receiver?.close();
});

test('admins make API keys and webhooks; deliveries show in the log', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signUp(page, server, { org: 'Casino One', email: 'ivan@example.com' });
  const slug = (await server.cli('org', 'list')).trim().split('\n')[0].split('\t')[1];
  await server.cli('org', 'enable-package', slug, 'live_processing');
  const group = await createGroup(page, server, 'Table 7', { processing: true, replaySeconds: 30 });
  const key = (await page.locator('#stream-key').textContent()).trim();

  // An API key, shown once, that the REST API accepts.
  await visit(page, server, '/organisation');
  const section = page.locator('#integrations');
  await section.getByLabel('Key name').fill('betting backend');
  await section.locator('#key-role').selectOption('viewer');
  await section.getByRole('button', { name: 'Create API key' }).click();
  const secret = (await section.locator('.new-secret code.secret').textContent()).trim();
  assert.match(secret, /^lpk_[A-Za-z0-9_-]{43}$/);
  const listed = await fetch(`${server.url}/api/v1/stream-groups`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(listed.status, 200);
  assert.equal((await listed.json())[0].id, group);
  const refused = await fetch(`${server.url}/api/v1/stream-groups/${group}`, { method: 'DELETE', headers: { authorization: `Bearer ${secret}` } });
  assert.equal(refused.status, 403, 'a viewer key may not delete');
  await section.locator('tr[data-key]').first().getByText('betting backend').waitFor();

  // An internal address (here the cloud metadata one) is refused, with the reason.
  await section.getByLabel('Endpoint URL').fill('http://169.254.169.254/latest/meta-data/');
  await section.getByRole('button', { name: 'Add webhook' }).click();
  await section.getByText(/public host/).first().waitFor();
  assert.equal(await section.locator('.webhook').count(), 0, 'nothing registered');

  // A webhook to a real receiver, signed with the secret shown once.
  const { port } = receiver.address();
  await section.getByLabel('Endpoint URL').fill(`http://127.0.0.1:${port}/hooks`);
  await section.getByRole('button', { name: 'Add webhook' }).click();
  await section.locator('.webhook').first().waitFor();
  const hookSecret = (await section.locator('.new-secret code.secret').textContent()).trim();
  assert.match(hookSecret, /^whsec_/);

  // A real stream goes live: session.started arrives, signed, and the log says Delivered.
  const publisher = publish(`${server.rtmp}/${key}`, { seconds: 6 });
  await eventually('session.started at the receiver', async () => received.some((r) => r.headers['x-lp-event'] === 'session.started'), 30000);
  const started = received.find((r) => r.headers['x-lp-event'] === 'session.started');
  const expected = 'v1=' + createHmac('sha256', hookSecret).update(`${started.headers['x-lp-timestamp']}.${started.body}`).digest('hex');
  assert.equal(started.headers['x-lp-signature'], expected);
  assert.equal(JSON.parse(started.body).data.group_id, group);
  await publisher.stop();
  await eventually('asset.created and session.ended', async () =>
    ['asset.created', 'session.ended'].every((e) => received.some((r) => r.headers['x-lp-event'] === e)), 40000);
  await visit(page, server, '/organisation');
  await section.locator('tr[data-status="delivered"]').first().waitFor();
  const events = await section.locator('table.deliveries tbody tr td:first-child').allTextContents();
  assert.ok(events.includes('session.started') && events.includes('session.ended'), events.join(','));
  await shot(page, 'organisation-integrations');

  // The API reference is the app's own page.
  const docs = await context.newPage();
  const outside = [];
  docs.on('request', (r) => { if (!r.url().startsWith(server.url)) outside.push(r.url()); });
  await docs.goto(`${server.url}/api/docs/`);
  await docs.getByText('Live Processing API').first().waitFor();
  await docs.getByText('/api/v1/stream-groups').first().waitFor();
  assert.deepEqual(outside, [], 'nothing fetched from elsewhere');
  await shot(docs, 'api-reference');
  await context.close();
});
