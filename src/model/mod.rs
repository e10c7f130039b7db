//! The network: its description, its initial parameters and the forward and backward
//! passes, written once for every [`Backend`](crate::Backend).

mod activation;
mod init;
mod loss;
mod network;
mod spec;

pub use activation::Activation;
pub use init::{DenseParams, Init, Parameters};
pub use loss::{Loss, Targets};
pub use network::Mlp;
pub use spec::{LayerSpec, MlpSpec};
