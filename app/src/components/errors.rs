//! How errors look: a box with the message, field errors as a list.

use leptos::prelude::*;

use crate::domain::{AppError, FieldError};

/// A visible error message.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    let fields = error.field_errors().to_vec();
    let message = if fields.is_empty() {
        error.to_string()
    } else {
        "Please correct these values:".to_string()
    };
    view! {
        <div class="error-box" role="alert">
            <p>{message}</p>
            {(!fields.is_empty()).then(|| view! {
                <ul>{fields.into_iter().map(|f| view! { <li>{f.to_string()}</li> }).collect_view()}</ul>
            })}
        </div>
    }
}

/// The message under an input for its field error, if any.
#[component]
pub fn FieldMessage(#[prop(into)] error: Signal<Option<FieldError>>, id: String) -> impl IntoView {
    view! {
        <p class="field-error" id=id role="status" aria-live="polite">
            {move || error.get().map(|e| e.to_string())}
        </p>
    }
}

/// The result of a server action as an error box, when it failed. Pass
/// `move || action.value().get()`.
pub fn action_error<T: 'static>(
    value: impl Fn() -> Option<Result<T, AppError>> + Send + Sync + 'static,
) -> impl IntoView {
    move || match value() {
        Some(Err(e)) => Some(view! { <ErrorBox error=e/> }),
        _ => None,
    }
}
