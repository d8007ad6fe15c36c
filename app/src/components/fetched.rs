//! Data the browser fetches after hydration, outside any Suspense. The live pages (the Live
//! Processing tab, the player, clips and history) use it: server rendering walks the view
//! tree more than once and makes resources again on every walk, so a resource created deep
//! in a page can line up with the wrong serialized value in the browser; fetching in an
//! effect sidesteps that, costs one round trip on first paint, and makes refreshing the
//! same code path as loading.

use std::future::Future;

use leptos::prelude::*;

use crate::domain::AppError;

/// A value fetched by the browser, and whether a fetch is under way.
pub struct Fetched<T: Send + Sync + 'static> {
    /// `None` until the first answer.
    pub value: RwSignal<Option<Result<T, AppError>>>,
    pub pending: RwSignal<bool>,
}

impl<T: Send + Sync + 'static> Clone for Fetched<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Send + Sync + 'static> Copy for Fetched<T> {}

/// Fetches `fetcher(source())` in the browser, again whenever what `source` reads changes.
/// A slow answer never overwrites a newer one.
pub fn fetch_in_browser<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Fetched<T>
where
    S: 'static,
    T: Send + Sync + 'static,
    Fut: Future<Output = Result<T, AppError>> + 'static,
{
    let value = RwSignal::new(None);
    let pending = RwSignal::new(false);
    let latest = StoredValue::new(0u64);
    Effect::new(move |_| {
        let input = source();
        let n = latest.get_value() + 1;
        latest.set_value(n);
        pending.set(true);
        let fut = fetcher(input);
        leptos::task::spawn_local(async move {
            let result = fut.await;
            if latest.try_get_value() == Some(n) {
                let _ = value.try_set(Some(result));
                let _ = pending.try_set(false);
            }
        });
    });
    Fetched { value, pending }
}
