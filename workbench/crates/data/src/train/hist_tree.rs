//! The histogram CART of `workbench-fit` (see that crate for why it replaces linfa-trees on
//! large tables). Its tree is the float reference tree that `model::quantize` compiles (the same
//! type), so the fitted tree goes to the compiler as it is.

pub use workbench_fit::{fit, HistTree, HistTreeParams};
