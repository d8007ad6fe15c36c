// Live Processing player glue (our own code, loaded by every page; ~1 KB). It loads hls.js
// from this server the first time a player needs it (no CDN), attaches it to a <video>, and
// tells the app the wall-clock time of the frame on screen (EXT-X-PROGRAM-DATE-TIME), which
// is how in and out points of clips are marked. Browsers with their own HLS (Safari) play
// the playlist directly.
(() => {
  'use strict';
  const HLS_SRC = '/vendor/hls/hls.light.min.js';
  let loading = null;

  function load() {
    if (window.Hls) return Promise.resolve(true);
    if (!loading) {
      loading = new Promise((resolve) => {
        const s = document.createElement('script');
        s.src = HLS_SRC;
        s.onload = () => resolve(true);
        s.onerror = () => { loading = null; resolve(false); };
        document.head.appendChild(s);
      });
    }
    return loading;
  }

  function attach(video, url, live) {
    const Hls = window.Hls;
    if (Hls && Hls.isSupported()) {
      // Live: start near the live edge and keep the whole buffer seekable.
      const hls = new Hls(live
        ? { liveSyncDurationCount: 3, liveMaxLatencyDurationCount: 12, backBufferLength: Infinity }
        : { backBufferLength: 120 });
      hls.loadSource(url);
      hls.attachMedia(video);
      if (video.autoplay) {
        hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
      }
      return { hls, video };
    }
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url;
      return { hls: null, video };
    }
    return { hls: null, video, unsupported: true };
  }

  // Milliseconds since the epoch of the frame on screen, or NaN before anything played.
  function playingDateMs(h) {
    if (!h) return NaN;
    if (h.hls) {
      const d = h.hls.playingDate;
      return d ? d.getTime() : NaN;
    }
    const v = h.video;
    if (v.getStartDate) {
      const start = v.getStartDate().getTime();
      if (!Number.isNaN(start)) return start + v.currentTime * 1000;
    }
    return NaN;
  }

  function destroy(h) {
    if (h && h.hls) h.hls.destroy();
    if (h && h.storyboardTimer) clearInterval(h.storyboardTimer);
  }

  // Storyboard (WebVTT thumbnail track over sprite sheets): a seek bar under the video;
  // hovering or dragging it (mouse, pen or touch) shows the tile of that moment, letting go
  // seeks there. Cue times count from the track's `NOTE start=` moment; with HLS the bar's
  // times map to it through the wall clock of the frame on screen (a rolling live window
  // moves), otherwise the track starts where the media does.
  function parseVtt(text, base) {
    const secs = (t) => {
      const p = t.trim().split(':').map(Number);
      return p.reduce((a, v) => a * 60 + v, 0);
    };
    const cues = [];
    for (const block of text.replace(/\r/g, '').split(/\n\n+/)) {
      const lines = block.trim().split('\n');
      const i = lines.findIndex((l) => l.includes('-->'));
      if (i < 0 || !lines[i + 1]) continue;
      const [from, to] = lines[i].split('-->').map(secs);
      const [file, frag] = lines[i + 1].trim().split('#xywh=');
      if (!frag) continue;
      const [x, y, w, h] = frag.split(',').map(Number);
      cues.push({ from, to, src: new URL(file, base).href, x, y, w, h });
    }
    return cues;
  }

  function storyboard(h, bar, url, live) {
    const video = h.video;
    const preview = bar.querySelector('.storyboard-preview');
    const fill = bar.querySelector('.storyboard-fill');
    let cues = [];
    let startMs = NaN;
    let dragging = false;
    async function refresh() {
      try {
        const r = await fetch(url, { cache: 'no-store' });
        if (!r.ok) return;
        const text = await r.text();
        const m = text.match(/^NOTE start=(\S+)/m);
        startMs = m ? Date.parse(m[1]) : NaN;
        cues = parseVtt(text, r.url);
        bar.dataset.cues = String(cues.length);
      } catch (_) { /* the next refresh tries again */ }
    }
    refresh();
    if (live) h.storyboardTimer = setInterval(refresh, 10000);
    const range = () => {
      const s = video.seekable;
      if (s && s.length) return [s.start(0), s.end(s.length - 1)];
      return [0, Number.isFinite(video.duration) ? video.duration : 0];
    };
    // Seconds of the track for a time of the video.
    const trackTime = (t) => {
      const wall = playingDateMs(h);
      if (h.hls && Number.isFinite(wall) && Number.isFinite(startMs)) {
        return (wall - video.currentTime * 1000 + t * 1000 - startMs) / 1000;
      }
      return t;
    };
    const at = (clientX) => {
      const box = bar.getBoundingClientRect();
      const f = Math.min(1, Math.max(0, (clientX - box.left) / Math.max(1, box.width)));
      const [a, b] = range();
      return { f, t: a + f * (b - a) };
    };
    const show = (clientX) => {
      const { f, t } = at(clientX);
      const tt = trackTime(t);
      const cue = cues.find((c) => tt >= c.from && tt < c.to) || (tt >= 0 && cues.length && tt >= cues[cues.length - 1].from ? cues[cues.length - 1] : null);
      preview.hidden = !cue;
      bar.dataset.time = tt.toFixed(3);
      if (!cue) return;
      preview.style.width = `${cue.w}px`;
      preview.style.height = `${cue.h}px`;
      preview.style.backgroundImage = `url("${cue.src}")`;
      preview.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
      // Centred on the pointer, but never past either end of the bar (a phone's edge).
      const width = bar.getBoundingClientRect().width;
      const left = Math.min(Math.max(0, f * width - cue.w / 2), Math.max(0, width - cue.w));
      preview.style.left = `${left.toFixed(1)}px`;
      preview.dataset.sprite = cue.src;
      preview.dataset.xywh = `${cue.x},${cue.y},${cue.w},${cue.h}`;
    };
    bar.addEventListener('pointermove', (e) => show(e.clientX));
    bar.addEventListener('pointerleave', () => { if (!dragging) preview.hidden = true; });
    bar.addEventListener('pointerdown', (e) => {
      dragging = true;
      bar.setPointerCapture(e.pointerId);
      show(e.clientX);
    });
    const release = (e, seek) => {
      if (!dragging) return;
      dragging = false;
      preview.hidden = true;
      if (seek) {
        video.currentTime = at(e.clientX).t;
        video.play().catch(() => {});
      }
    };
    bar.addEventListener('pointerup', (e) => release(e, true));
    bar.addEventListener('pointercancel', (e) => release(e, false));
    video.addEventListener('timeupdate', () => {
      const [a, b] = range();
      fill.style.width = b > a ? `${(100 * (video.currentTime - a) / (b - a)).toFixed(2)}%` : '0';
    });
    return h;
  }

  // A plain file (a recording) in a <video>, as a handle the storyboard can use.
  function plain(video) {
    return { hls: null, video };
  }

  window.lpPlayer = { load, attach, playingDateMs, destroy, storyboard, plain };
})();
