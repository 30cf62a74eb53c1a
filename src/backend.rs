//! Run-time backend selection.
//!
//! burn 0.22 picks the backend from the device, so one build can serve several backends: each
//! one is compiled in by a cargo feature of this crate (`flex`, `ndarray`, `wgpu`).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::CsvaeError;

/// A burn backend that examples and the pipeline can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn-flex: the pure-Rust CPU backend (SIMD and rayon), the default.
    #[default]
    Flex,
    /// burn-ndarray: deprecated in burn 0.22 and much slower than flex.
    Ndarray,
    /// burn-wgpu: GPUs through Vulkan, Metal or DirectX 12.
    Wgpu,
}

impl Backend {
    /// Every backend, in the order of the help text.
    pub const ALL: [Backend; 3] = [Backend::Flex, Backend::Ndarray, Backend::Wgpu];

    /// Returns the name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }

    /// Returns whether this build includes the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::Ndarray => cfg!(feature = "ndarray"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// Returns the default device of this backend.
    ///
    /// # Errors
    /// [`CsvaeError::BackendNotCompiled`] when the build lacks the backend's cargo feature.
    pub fn device(self) -> Result<Device, CsvaeError> {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // burn 0.22 deprecates ndarray; users may still ask for it.
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            other => Err(CsvaeError::BackendNotCompiled {
                backend: other.name(),
            }),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = CsvaeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Backend::ALL
            .into_iter()
            .find(|backend| backend.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| CsvaeError::UnknownBackend {
                name: text.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_rejects_others() {
        assert_eq!("flex".parse::<Backend>().expect("flex"), Backend::Flex);
        assert_eq!("WGPU".parse::<Backend>().expect("wgpu"), Backend::Wgpu);
        let err = "cuda".parse::<Backend>().unwrap_err();
        assert!(err.to_string().contains("cuda"), "{err}");
    }

    #[test]
    fn default_build_has_flex() {
        assert!(Backend::Flex.is_compiled());
        assert!(Backend::Flex.device().is_ok());
        if !Backend::Wgpu.is_compiled() {
            let err = Backend::Wgpu.device().unwrap_err();
            assert!(err.to_string().contains("--features wgpu"), "{err}");
        }
    }
}
