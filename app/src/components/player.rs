//! The HLS player: a `<video>` driven by hls.js (served by this server and loaded on first
//! use through `public/player.js`), or by the browser's own HLS where it has it. A
//! [`PlayerHandle`] lets the page read the wall-clock time on screen (to mark clip points)
//! and seek to a wall-clock time (timeline thumbnails).

use leptos::html::Video;
use leptos::prelude::*;
#[cfg(feature = "hydrate")]
use wasm_bindgen::prelude::*;

#[cfg(feature = "hydrate")]
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = lpPlayer, js_name = load)]
    fn load_hls() -> js_sys::Promise;
    #[wasm_bindgen(js_namespace = lpPlayer, js_name = attach)]
    fn attach(video: &web_sys::HtmlVideoElement, url: &str, live: bool) -> JsValue;
    #[wasm_bindgen(js_namespace = lpPlayer, js_name = playingDateMs)]
    fn playing_date_ms(handle: &JsValue) -> f64;
    #[wasm_bindgen(js_namespace = lpPlayer, js_name = destroy)]
    fn destroy(handle: &JsValue);
    #[wasm_bindgen(js_namespace = lpPlayer, js_name = storyboard)]
    fn storyboard(handle: &JsValue, bar: &web_sys::HtmlDivElement, url: &str, live: bool);
    #[wasm_bindgen(js_namespace = lpPlayer, js_name = plain)]
    fn plain(video: &web_sys::HtmlVideoElement) -> JsValue;
}

/// What a page can do with its player.
#[derive(Clone, Copy)]
pub struct PlayerHandle {
    video: NodeRef<Video>,
    /// The hls.js attachment; browser-only (a JS value must stay on its thread, and the
    /// server renders on many).
    #[cfg(feature = "hydrate")]
    attached: StoredValue<Option<wasm_bindgen::JsValue>, LocalStorage>,
}

impl Default for PlayerHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl PlayerHandle {
    /// A handle for a player not yet shown.
    pub fn new() -> Self {
        Self {
            video: NodeRef::new(),
            #[cfg(feature = "hydrate")]
            attached: StoredValue::new_local(None),
        }
    }

    /// Wall-clock milliseconds of the frame on screen (`None` before anything played).
    pub fn wall_ms(&self) -> Option<f64> {
        #[cfg(feature = "hydrate")]
        {
            let ms = self
                .attached
                .with_value(|h| h.as_ref().map(playing_date_ms))?;
            ms.is_finite().then_some(ms)
        }
        #[cfg(not(feature = "hydrate"))]
        None
    }

    /// Seconds of the player's own timeline.
    pub fn current_time(&self) -> f64 {
        self.video
            .get_untracked()
            .map(|v| v.current_time())
            .unwrap_or(0.0)
    }

    /// Moves the playhead to a wall-clock time, if it is inside what the player has.
    pub fn seek_wall_ms(&self, target_ms: f64) {
        let (Some(now), Some(video)) = (self.wall_ms(), self.video.get_untracked()) else {
            return;
        };
        let t = video.current_time() + (target_ms - now) / 1000.0;
        video.set_current_time(t.max(0.0));
        let _ = video.play();
    }
}

/// A player for an HLS playlist.
#[component]
pub fn HlsPlayer(
    /// The `.m3u8` URL.
    src: String,
    /// A live playlist: start at the live edge, keep the whole buffer seekable.
    live: bool,
    handle: PlayerHandle,
    /// A picture shown before playback.
    #[prop(into, default = None)]
    poster: Option<String>,
    /// Start playing at once (muted, as browsers allow).
    #[prop(optional)]
    autoplay: bool,
    /// The storyboard track (WebVTT): a seek bar with previews under the video.
    #[prop(into, default = None)]
    storyboard: Option<String>,
) -> impl IntoView {
    let video = handle.video;
    let bar = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    {
        let src = src.clone();
        let track = storyboard.clone();
        Effect::new(move |_| {
            let Some(el) = video.get() else {
                return;
            };
            let (src, track) = (src.clone(), track.clone());
            leptos::task::spawn_local(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(load_hls()).await;
                let h = attach(&el, &src, live);
                if let (Some(url), Some(bar)) = (track, bar.get_untracked()) {
                    self::storyboard(&h, &bar, &url, live);
                }
                handle.attached.set_value(Some(h));
            });
        });
        on_cleanup(move || {
            if let Some(Some(h)) = handle.attached.try_get_value() {
                destroy(&h);
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = live;
    view! {
        <div class="player-wrap">
            <div class="player-box">
            <video
                node_ref=video
                class="player"
                controls=true
                playsinline=true
                preload="auto"
                autoplay=autoplay
                muted=autoplay
                prop:muted=autoplay
                poster=poster
                data-src=src
            ></video>
            </div>
            {storyboard.map(|url| view! { <StoryboardBar bar url/> })}
        </div>
    }
}

/// The seek bar with previews (driven by `public/player.js`).
#[component]
fn StoryboardBar(bar: NodeRef<leptos::html::Div>, url: String) -> impl IntoView {
    view! {
        <div node_ref=bar class="storyboard-bar" data-track=url title="Seek: hover or drag for previews">
            <div class="storyboard-fill"></div>
            <div class="storyboard-preview" hidden=true></div>
        </div>
    }
}

/// A player for one MP4 file (a recording), with a storyboard seek bar when given.
#[component]
pub fn FilePlayer(
    src: String,
    #[prop(into, default = None)] storyboard: Option<String>,
    #[prop(into, default = None)] poster: Option<String>,
    /// Start playing at once (muted, as browsers allow).
    #[prop(optional)]
    autoplay: bool,
    /// Called when the file has played to its end.
    #[prop(optional)]
    on_ended: Option<Callback<()>>,
) -> impl IntoView {
    let video = NodeRef::<Video>::new();
    let bar = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    {
        let track = storyboard.clone();
        Effect::new(move |_| {
            let (Some(el), Some(url), Some(bar)) = (video.get(), track.clone(), bar.get()) else {
                return;
            };
            let h = plain(&el);
            self::storyboard(&h, &bar, &url, false);
        });
    }
    view! {
        <div class="player-wrap">
            <div class="player-box">
                <video node_ref=video class="player" controls=true playsinline=true preload="metadata"
                    autoplay=autoplay muted=autoplay prop:muted=autoplay poster=poster src=src
                    on:ended=move |_| {
                        if let Some(f) = on_ended {
                            f.run(());
                        }
                    }></video>
            </div>
            {storyboard.map(|url| view! { <StoryboardBar bar url/> })}
        </div>
    }
}
