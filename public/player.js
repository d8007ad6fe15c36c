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
  }

  window.lpPlayer = { load, attach, playingDateMs, destroy };
})();
