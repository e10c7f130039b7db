//! Descriptions of a network's shape.

use crate::error::{Error, Result};
use crate::model::Activation;

/// One dense layer: its output width, the activation applied to its output, and
/// whether it adds a bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerSpec {
    /// Number of outputs.
    pub width: usize,
    /// Activation applied to the outputs.
    pub activation: Activation,
    /// Whether the layer adds a trained bias; without one it computes `x · W` alone.
    pub bias: bool,
}

impl LayerSpec {
    /// A layer of `width` outputs with a bias, followed by `activation`.
    pub fn new(width: usize, activation: Activation) -> Self {
        LayerSpec {
            width,
            activation,
            bias: true,
        }
    }

    /// The same layer without a bias.
    pub fn without_bias(self) -> Self {
        LayerSpec {
            bias: false,
            ..self
        }
    }
}

/// A multilayer perceptron: the input width and its dense layers, first to last.
///
/// The last layer's outputs are the logits that softmax cross-entropy trains, so its
/// activation is usually [`Activation::Identity`].
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    /// Number of input features.
    pub inputs: usize,
    /// The layers, from the input to the output.
    pub layers: Vec<LayerSpec>,
}

impl MlpSpec {
    /// Describes a classifier: hidden layers of the given widths, all with `activation`,
    /// then an identity layer of `classes` logits.
    pub fn classifier(
        inputs: usize,
        hidden: &[usize],
        activation: Activation,
        classes: usize,
    ) -> Self {
        let mut layers: Vec<LayerSpec> = hidden
            .iter()
            .map(|&width| LayerSpec::new(width, activation))
            .collect();
        layers.push(LayerSpec::new(classes, Activation::Identity));
        MlpSpec { inputs, layers }
    }

    /// Number of outputs of the last layer.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(self.inputs, |layer| layer.width)
    }

    /// Input width of layer `index`: the network's input width or the previous layer's
    /// output width.
    pub fn fan_in(&self, index: usize) -> usize {
        match index {
            0 => self.inputs,
            i => self.layers[i - 1].width,
        }
    }

    /// Checks that the network can be built.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the input width is 0, there are no layers, a layer
    /// has width 0, or an activation's parameter is out of range.
    pub fn validate(&self) -> Result<()> {
        if self.inputs == 0 {
            return Err(Error::config(
                "input width",
                0,
                "a network needs at least one input feature",
            ));
        }
        if self.layers.is_empty() {
            return Err(Error::config(
                "layer count",
                0,
                "a network needs at least one layer",
            ));
        }
        for (index, layer) in self.layers.iter().enumerate() {
            if layer.width == 0 {
                return Err(Error::config(
                    "layer width",
                    format!("0 (layer {index})"),
                    "every layer needs at least one output",
                ));
            }
            layer.activation.validate()?;
        }
        Ok(())
    }
}
