//! One answer per question for the length of one request. Server rendering walks the view
//! tree more than once before it sends the page (Leptos's Suspense re-runs closures to find
//! every resource), and every walk makes the page's resources, and so its server-function
//! calls, again. The server-rendered share page memoises its lookup here, so every walk sees
//! the same answer and a token miss is counted against the rate limit once. (The live pages
//! fetch in the browser instead: see `components/fetched.rs`.)

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use leptos::prelude::use_context;

/// The memo of one request; the server provides a fresh one to each request's context.
#[derive(Clone, Default)]
pub struct RequestMemo(Arc<Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>>);

impl RequestMemo {
    /// The value for `key` computed earlier in this request, else `compute()`'s (kept).
    /// Outside a request with a memo, just `compute()`.
    pub async fn get_or<T, Fut>(key: String, compute: impl FnOnce() -> Fut) -> T
    where
        T: Clone + Send + Sync + 'static,
        Fut: Future<Output = T>,
    {
        let Some(memo) = use_context::<RequestMemo>() else {
            return compute().await;
        };
        if let Some(v) = memo.lookup::<T>(&key) {
            return v;
        }
        let value = compute().await;
        let mut map = memo.0.lock().unwrap_or_else(|p| p.into_inner());
        // Another walk may have finished first: everyone gets the first answer.
        let kept = map.entry(key).or_insert_with(|| Arc::new(value.clone()));
        kept.downcast_ref::<T>().cloned().unwrap_or(value)
    }

    fn lookup<T: Clone + 'static>(&self, key: &str) -> Option<T> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).and_then(|v| v.downcast_ref::<T>().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leptos::prelude::{provide_context, Owner};
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_request_sees_one_answer_per_key() {
        let owner = Owner::new();
        owner.set();
        provide_context(RequestMemo::default());
        let calls = AtomicU32::new(0);
        let ask = || async {
            calls.fetch_add(1, Ordering::Relaxed);
            calls.load(Ordering::Relaxed)
        };
        let a = RequestMemo::get_or("k".into(), ask).await;
        let b = RequestMemo::get_or("k".into(), ask).await;
        let c = RequestMemo::get_or("other".into(), ask).await;
        assert_eq!((a, b, c), (1, 1, 2));
    }
}
