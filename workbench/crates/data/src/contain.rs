//! Turning a panic inside a third-party parser into an error.
//!
//! Some readers we depend on (polars' Parquet reader among them) assert on damaged input instead
//! of returning an error; fuzzing found such inputs. A file from a stranger must give a clear
//! error naming the file, never a crash, so those calls run inside [`contained`].

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

thread_local! {
    /// Set while this thread runs a contained call: its panic is reported as an error, so the
    /// panic hook stays quiet for it.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Contained calls running now, on any thread. polars decodes on its own worker threads (named
/// `polars-N`); their panics reach the caller through rayon and are contained there, so the hook
/// stays quiet for those threads too while a contained call runs.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

fn quiet_here() -> bool {
    QUIET.with(Cell::get)
        || (ACTIVE.load(Ordering::Relaxed) > 0
            && std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("polars")))
}

/// Runs `f`; a panic in it becomes `Err(message)`. The panic hook in place (color-eyre's, which
/// also restores the terminal) still runs for panics anywhere else.
pub fn contained<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !quiet_here() {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    ACTIVE.fetch_add(1, Ordering::Relaxed);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    ACTIVE.fetch_sub(1, Ordering::Relaxed);
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(std::string::ToString::to_string)
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into())
    })
}

#[cfg(test)]
mod tests {
    use super::contained;

    #[test]
    fn a_panic_becomes_its_message_and_values_pass_through() {
        assert_eq!(contained(|| 7), Ok(7));
        let v: Vec<u8> = Vec::new();
        let err = contained(|| v[3]).expect_err("index 3 of an empty vector panics");
        assert!(err.contains("index out of bounds"), "{err}");
        assert_eq!(contained(|| panic!("bad {}", 5)).expect_err("panics"), "bad 5");
    }

    #[test]
    fn a_panic_on_a_polars_worker_is_contained_by_the_caller() {
        let err = contained(|| {
            std::thread::Builder::new()
                .name("polars-7".into())
                .spawn(|| panic!("worker"))
                .expect("thread")
                .join()
                .map_err(|_| ())
                .expect("propagated like rayon does");
        })
        .expect_err("contained");
        assert!(err.contains("propagated"), "{err}");
    }
}
