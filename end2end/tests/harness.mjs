// Test harness: starts the real server binary on free ports with a fresh data folder,
// drives Debian's Chromium through playwright-core, saves screenshots for review.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

export const root = resolve(import.meta.dirname, '../..');
export const serverBin = join(root, 'target/debug/server');
export const artifacts = join(root, 'end2end/artifacts');
mkdirSync(artifacts, { recursive: true });

const run = promisify(execFile);

/** Starts a server; resolves once it prints its dashboard URL. */
export async function startServer({ dataDir, extraArgs = [] } = {}) {
  dataDir ??= mkdtempSync(join(tmpdir(), 'lp-e2e-'));
  const common = ['--data-dir', dataDir, '--site-root', join(root, 'target/site')];
  // Test machines (CI among them) may have less than the default 1 GiB free after a build;
  // below the floor thumbnails and motion clips wait, which these tests are not about.
  const floor = ['--min-free-disk-mb', process.env.LP_MIN_FREE_DISK_MB ?? '64'];
  const proc = spawn(serverBin, ['run', '--listen', '127.0.0.1:0', '--rtmp-listen', '127.0.0.1:0', ...common, ...floor, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
  });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  let rtmp;
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 30000);
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/Dashboard: (http:\/\/\S+)/);
      const r = out.match(/RTMP: +(rtmp:\/\/\S+)\/<stream key>/);
      if (m && r) { clearTimeout(timer); rtmp = r[1]; resolveUrl(m[1]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}:\n${log}`)); });
  });
  return {
    url,
    /** `rtmp://127.0.0.1:PORT/live`: append `/<stream key>` to publish. */
    rtmp,
    dataDir,
    proc,
    log: () => log,
    /** Runs a server subcommand (e.g. `org enable-package`) on the same data folder. */
    cli: async (...args) => (await run(serverBin, [...args, ...common])).stdout,
    stop: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      // The server's warnings and errors, kept beside the screenshots for a failed run.
      writeFileSync(join(artifacts, `server-${new URL(url).port}.log`), log);
    },
  };
}

/** Headless Chromium as the machine provides it. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', '--autoplay-policy=no-user-gesture-required'],
  });
}

/** Waits until the wasm has hydrated the page. */
export async function hydrated(page) {
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30000 });
}

/** Goes to a path of the server and waits for hydration. */
export async function visit(page, server, path) {
  await page.goto(server.url + path);
  await hydrated(page);
}

/** Saves a full-page screenshot under end2end/artifacts for review. */
export async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** Signs up a new organisation through the form; returns its credentials. */
export async function signUp(page, server, { org = 'Acme Live', name = 'Ada Owner', email = 'ada@example.com', password = 'correct horse battery' } = {}) {
  await visit(page, server, '/signup');
  await page.getByLabel('Organisation name').fill(org);
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole('button', { name: 'Create organisation' }).click();
  await page.waitForURL('**/streams');
  await hydrated(page);
  return { email, password };
}

/** Logs in through the form. */
export async function logIn(page, server, { email, password }) {
  await visit(page, server, '/login');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/** A real ffmpeg publishing a lavfi test pattern with a tone over RTMP, like OBS would. */
export function publish(url, { seconds = 120, size = '640x360' } = {}) {
  const proc = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30',
    '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', url], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  return {
    proc,
    log: () => log,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGINT');
      await exited;
    },
  };
}

/** Polls `check` (an async function returning a truthy value when done) until `ms` pass. */
export async function eventually(what, check, ms = 30000) {
  const start = Date.now();
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Creates a stream group through the form; returns its id. With `processing`, every process
 * is switched on (motion clips every 10 s for 2 s); `replaySeconds` sets the replay window.
 */
export async function createGroup(page, server, name, { transcoding = false, processing = false, replaySeconds } = {}) {
  await visit(page, server, '/streams/new');
  await page.getByLabel('Name', { exact: true }).fill(name);
  if (transcoding) {
    await page.getByLabel(/^Transcoding \(make a stream group/).check();
    await page.getByRole('tab', { name: '360p' }).waitFor();
  }
  if (processing) {
    for (const p of ['Thumbnail', 'Motion Clip', 'Recording', 'Replay']) await page.getByLabel(`${p} enabled`).check();
    await page.locator('#s0-motion_clip-interval').fill('10');
    await page.locator('#s0-motion_clip-duration').fill('2');
    if (replaySeconds) await page.locator('#s0-replay-duration').fill(String(replaySeconds));
    if (transcoding) {
      await page.getByRole('button', { name: 'Sync settings across profiles' }).click();
      await page.getByText('Copied the Source settings to 3 profiles').waitFor();
    }
  }
  await page.getByRole('button', { name: 'Create stream' }).click();
  await page.waitForURL(/\/streams\/\d+$/);
  await hydrated(page);
  return Number(page.url().match(/\/streams\/(\d+)$/)[1]);
}

/** Resolves once the page's player has played past `seconds` and is still advancing. */
export async function playing(page, selector = 'video.player', seconds = 1) {
  await page.waitForFunction(({ selector, seconds }) => {
    const v = document.querySelector(selector);
    return v && v.currentTime > seconds && !v.paused && v.readyState >= 2;
  }, { selector, seconds }, { timeout: 40000 });
  const t0 = await page.locator(selector).evaluate((v) => v.currentTime);
  await page.waitForFunction(({ selector, t0 }) => document.querySelector(selector).currentTime > t0 + 0.5, { selector, t0 }, { timeout: 15000 });
}
