//! OCI artifacts as gatehouse makes and reads them: reproducible images (`image`), the
//! Distribution registry protocol with its token auth (`registry`), cosign-compatible
//! signatures and attestations (`sign`) and CycloneDX SBOMs (`sbom`).

pub mod image;
pub mod registry;
pub mod sbom;
pub mod sign;

use gatehouse_engine::{engine, exit, http, process};
