//! The sink: where matching logs go. The webhook (`webhook`: the pool, retries, refusals),
//! the file refused logs are set aside in (`dead_letter`), the bodies it sends (`encode`:
//! batches across pages, JSON array or lines, gzip), their signatures (`sign`) and its pacing
//! (`pace`). The dry run's sink, stdout, is a few lines in `run`.

pub mod dead_letter;
pub mod encode;
pub mod pace;
pub mod sign;
pub mod webhook;
