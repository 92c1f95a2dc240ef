//! Commands besides `serve` (in `main.rs`), and the flags they share with it.

pub mod generate;
pub mod oci;
pub mod run;
