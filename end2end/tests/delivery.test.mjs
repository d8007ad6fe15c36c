// Delivery to viewers without an account, against the real server and a real published
// stream: an editor switches a stream's public delivery on in the Live Processing tab; a page
// on another origin, opened in a fresh browser context with no cookies, embeds the public
// thumbnail (<img>) and motion clip (<video>) and sees them update while the stream is live;
// rotating the link breaks the old URLs at once. Screenshot of the embed.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startServer, launchBrowser, visit, shot, signUp, publish, eventually, createGroup } from './harness.mjs';

let server;
let browser;
let publisher;
let site;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await publisher?.stop();
  await browser?.close();
  await server?.stop();
  site?.close();
});

/** A website of its own (another port: another origin) serving one page that embeds `urls`. */
async function embeddingSite(urls) {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Our homepage</title>
<style>body{font-family:sans-serif;margin:24px}figure{display:inline-block;margin:0 24px 0 0}img,video{width:320px;height:180px;background:#000}</style></head>
<body><h1>Live now on our homepage</h1>
<figure><img id="thumb" alt="Live thumbnail" src="${urls.thumbnail}"><figcaption>Live thumbnail (refreshed every 2 s)</figcaption></figure>
<figure><video id="clip" src="${urls.motion}" autoplay muted loop playsinline></video><figcaption>Motion clip preview</figcaption></figure>
<script>
  // The usual homepage pattern: reload the stable URL now and then (the server's short
  // max-age and ETag keep this cheap), and follow the newest clip.
  setInterval(() => {
    document.getElementById('thumb').src = ${JSON.stringify(urls.thumbnail)} + '?t=' + Date.now();
  }, 2000);
  // No clip yet (or a moment without one): try again shortly.
  const clip = document.getElementById('clip');
  clip.addEventListener('error', () => setTimeout(() => {
    clip.src = ${JSON.stringify(urls.motion)} + '?t=' + Date.now();
    clip.play().catch(() => {});
  }, 2000));
</script></body></html>`;
  const srv = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, url: `http://127.0.0.1:${srv.address().port}/`, close: () => srv.close() };
}

test('public thumbnails and motion clips embed on another site and stop when the link rotates', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signUp(page, server, { org: 'Harbour TV', email: 'pia@example.com' });
  const slug = (await server.cli('org', 'list')).trim().split('\n')[0].split('\t')[1];
  await server.cli('org', 'enable-package', slug, 'live_processing');
  const group = await createGroup(page, server, 'Harbour cam', { processing: true });
  const key = (await page.locator('#stream-key').textContent()).trim();
  publisher = publish(`${server.rtmp}/${key}`, { seconds: 240 });

  // Off by default: the tables show the members' URLs.
  await visit(page, server, `/streams/${group}/processing`);
  const delivery = page.locator('#delivery');
  const row = delivery.locator('tbody tr').first();
  await row.locator('.public-state').getByText('Off').waitFor();
  assert.match(await page.locator('table[data-process="thumbnail"] td.url a').first().textContent(), /^\/media\/streams\/\d+\/latest\.jpg$/);

  // An editor switches it on: public URLs appear, in the delivery card and in the tables.
  await row.getByRole('button', { name: 'Make public' }).click();
  await row.locator('.public-state').getByText('On').waitFor();
  const href = async (k) => server.url + await row.locator(`li[data-url="${k}"] a`).getAttribute('href');
  const urls = { thumbnail: await href('thumbnail'), motion: await href('motion'), replay: await href('replay') };
  assert.match(urls.thumbnail, /\/p\/[A-Za-z0-9_-]{32}\/thumbnail\.jpg$/);
  await eventually('the public URL in the Thumbnails table', async () =>
    (await page.locator('table[data-process="thumbnail"] td.url[data-public="true"] a').first().textContent()) === new URL(urls.thumbnail).pathname);
  await shot(page, 'delivery-public-on');

  // A website on another origin, opened by a viewer with no cookies at all.
  site = await embeddingSite(urls);
  const viewerContext = await browser.newContext({ viewport: { width: 900, height: 420 } });
  assert.equal((await viewerContext.cookies()).length, 0);
  const viewer = await viewerContext.newPage();
  const etags = new Set();
  viewer.on('response', (r) => {
    if (r.url().startsWith(urls.thumbnail) && r.status() === 200) etags.add(r.headers().etag);
  });
  await viewer.goto(site.url);
  assert.notEqual(new URL(site.url).origin, new URL(server.url).origin);
  await viewer.waitForFunction(() => {
    const img = document.getElementById('thumb');
    return img.complete && img.naturalWidth > 0;
  }, null, { timeout: 40000 });
  await viewer.waitForFunction(() => {
    const v = document.getElementById('clip');
    return v.videoWidth > 0 && v.currentTime > 0.2;
  }, null, { timeout: 60000 });
  // The thumbnail behind the same URL changes while the stream is live (every 10 s).
  await eventually('a newer thumbnail behind the same URL', async () => etags.size >= 2, 40000);
  await shot(viewer, 'delivery-embed');

  // Rotate: the embed's old URLs stop at once (checked from the embedding page itself,
  // which may read our answers: CORS).
  await row.getByRole('button', { name: 'Rotate link' }).click();
  await eventually('the new link in the card', async () => (await href('thumbnail')) !== urls.thumbnail, 10000);
  const statuses = await viewer.evaluate(async (list) =>
    Promise.all(list.map(async (u) => (await fetch(u, { cache: 'no-store' })).status)), [urls.thumbnail, urls.motion, urls.replay]);
  assert.deepEqual(statuses, [404, 404, 404]);
  await viewer.waitForFunction(() => {
    const img = document.getElementById('thumb');
    return img.complete && img.naturalWidth === 0;
  }, null, { timeout: 10000 });
  const fresh = await viewer.evaluate(async (u) => (await fetch(u, { cache: 'no-store' })).status, await href('thumbnail'));
  assert.equal(fresh, 200);
  await viewerContext.close();

  // The group's switch: every stream of the group at once.
  const current = await href('thumbnail');
  await delivery.getByRole('button', { name: 'Make every stream private' }).click();
  await row.locator('.public-state').getByText('Off').waitFor();
  assert.equal(await page.evaluate(async (u) => (await fetch(u, { cache: 'no-store', credentials: 'omit' })).status, current), 404);
  await delivery.getByRole('button', { name: 'Make every stream public' }).click();
  await row.locator('.public-state').getByText('On').waitFor();
  assert.ok(await delivery.getByRole('button', { name: 'Make every stream public' }).isDisabled());
  await context.close();
});
