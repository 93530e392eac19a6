//! The network as an ONNX model, for onnxruntime, tract and the runtimes of C#, Java, C++,
//! phones and browsers.
//!
//! Why written here rather than with Burn's own exporter (`burn-onnx` 0.22, feature `export`):
//! that one traces a forward pass into opset 18 and is marked experimental. With Burn 0.22.1 it
//! stops at softmax (`UnsupportedOperation`: Burn records it as one fused activation), which
//! most presets end with; for the others it writes MatMul + Reshape + Add per layer under
//! generated names (`tensor_4` in, `tensor_12` out), with no producer version and no way to set
//! metadata, and it needs Burn's capture backend, onnx-ir and rust-protobuf compiled in. The
//! network is a fixed chain of Linear layers and element-wise activations, so its graph is a
//! few nodes that we write directly: Gemm (Burn's [in, out] weight is Gemm's B as it is),
//! Sigmoid / Tanh / Relu, then Softmax or Sigmoid, in opset 13. The ONNX messages are the
//! subset of onnx.proto we emit, as `prost` structs with onnx.proto's field numbers (no protoc,
//! no build script; the wire format is what the ONNX checker and onnxruntime read).
//!
//! Graph: `pixels` f32 [batch, 784] in 0..1 (a dynamic batch axis) → `probabilities` f32
//! [batch, 10] and `logits` f32 [batch, 10]. Dropout only acts in training, so it is absent.
//! The metadata holds the run's resolved config (`config`), `activations`, `output`.

use anyhow::Result;
use formats::config::{Activation, ExperimentConfig, Output};
use formats::error;
use formats::idx::{CLASSES, PIXELS};

use super::{activation_name, output_name};
use crate::model::Mlp;

pub const ONNX_FILE: &str = "model.onnx";
/// ONNX IR version 7 is the one that came with opset 13 (ONNX 1.8): every runtime since reads it.
pub const IR_VERSION: i64 = 7;
pub const OPSET: i64 = 13;
pub const INPUT: &str = "pixels";
pub const PROBABILITIES: &str = "probabilities";
pub const LOGITS: &str = "logits";
/// The symbolic name of the batch axis.
pub const BATCH: &str = "batch";

/// The model as a serialised ONNX `ModelProto`.
pub fn onnx_bytes(model: &Mlp, cfg: &ExperimentConfig) -> Result<Vec<u8>> {
    let hidden = model.layers.len() - 1;
    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    let mut x = INPUT.to_string();
    for (i, layer) in model.layers.iter().enumerate() {
        let weight = format!("layers.{i}.weight");
        let bias = format!("layers.{i}.bias");
        let w = layer.weight.val();
        let [fan_in, fan_out] = w.dims();
        initializers.push(float_tensor(&weight, &[fan_in, fan_out], read(w.into_data())?));
        let b = layer.bias.as_ref().ok_or_else(|| error::runtime(format!("layer {i} has no bias")))?.val();
        initializers.push(float_tensor(&bias, &[fan_out], read(b.into_data())?));
        let linear = if i == hidden { LOGITS.to_string() } else { format!("layers.{i}.linear") };
        // Y = X·B + C with B = [in, out], exactly Burn's Linear.
        nodes.push(node("Gemm", &format!("layers.{i}.gemm"), &[&x, &weight, &bias], &linear, None));
        x = linear;
        if i < hidden {
            let activated = format!("layers.{i}.{}", activation_name(model.activations[i]));
            let op = match model.activations[i] {
                Activation::Sigmoid => "Sigmoid",
                Activation::Tanh => "Tanh",
                Activation::Relu => "Relu",
            };
            nodes.push(node(op, &activated, &[&x], &activated, None));
            x = activated;
        }
    }
    let (output_op, output_doc) = match model.output {
        Output::Softmax => ("Softmax", "class probabilities: the softmax of the logits, each row sums to 1"),
        Output::Sigmoid => (
            "Sigmoid",
            "per-class sigmoid of the logits: ten independent scores in (0, 1), one per digit, \
             each trained towards 1 for its digit and 0 for the others (by mean squared error, \
             or by binary cross-entropy, which makes it a one-vs-rest probability); a row need \
             not sum to 1; the largest is the prediction",
        ),
    };
    let axis = matches!(model.output, Output::Softmax).then(|| AttributeProto {
        name: "axis".into(),
        r#type: ATTRIBUTE_INT,
        i: 1,
    });
    nodes.push(node(output_op, "output", &[LOGITS], PROBABILITIES, axis));

    let graph = GraphProto {
        node: nodes,
        name: "mnist-lab".into(),
        initializer: initializers,
        doc_string: describe(model, cfg),
        input: vec![value_info(
            INPUT,
            PIXELS,
            "f32 pixels in [0, 1] (byte / 255), 28×28 row-major, white digit on black",
        )],
        output: vec![
            value_info(PROBABILITIES, CLASSES, output_doc),
            value_info(LOGITS, CLASSES, "the output layer's pre-activations (argmax = predicted digit)"),
        ],
    };
    let activations: Vec<&str> = model.activations.iter().map(|a| activation_name(*a)).collect();
    let meta = |key: &str, value: String| StringStringEntryProto { key: key.into(), value };
    let proto = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "mnist-lab".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: cfg.lesson.clone(),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        metadata_props: vec![
            meta("activations", activations.join(",")),
            meta("output", output_name(model.output).into()),
            meta("config", cfg.to_toml()),
        ],
    };
    Ok(prost::Message::encode_to_vec(&proto))
}

/// "784-30-10 MLP (sigmoid hidden layers, sigmoid output), mnist-lab preset `baseline`".
fn describe(model: &Mlp, cfg: &ExperimentConfig) -> String {
    let sizes: Vec<String> = model.layers.iter().map(|l| l.weight.dims()[1].to_string()).collect();
    let activations: Vec<&str> = model.activations.iter().map(|a| activation_name(*a)).collect();
    let hidden = if activations.is_empty() { "none".to_string() } else { activations.join(", ") };
    let mut text =
        format!("{PIXELS}-{} MLP (hidden: {hidden}; output: {})", sizes.join("-"), output_name(model.output));
    if !cfg.preset.is_empty() {
        text += &format!(", mnist-lab preset `{}`", cfg.preset);
    }
    text
}

fn read(data: burn::tensor::TensorData) -> Result<Vec<f32>> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| error::runtime(format!("cannot read the weights back: {e:?}")))
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str, attribute: Option<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: name.into(),
        op_type: op.into(),
        attribute: attribute.into_iter().collect(),
    }
}

fn float_tensor(name: &str, dims: &[usize], values: Vec<f32>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: TENSOR_FLOAT,
        name: name.into(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// A float tensor [batch, `width`].
fn value_info(name: &str, width: usize, doc: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: TENSOR_FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        Dimension { dim_value: None, dim_param: Some(BATCH.into()) },
                        Dimension { dim_value: Some(width as i64), dim_param: None },
                    ],
                }),
            }),
        }),
        doc_string: doc.into(),
    }
}

// onnx.proto's messages, only the fields we write; the tags are onnx.proto's field numbers.

/// `TensorProto.DataType.FLOAT`.
const TENSOR_FLOAT: i32 = 1;
/// `AttributeProto.AttributeType.INT`.
const ATTRIBUTE_INT: i32 = 2;

#[derive(Clone, PartialEq, prost::Message)]
struct ModelProto {
    #[prost(int64, tag = "1")]
    ir_version: i64,
    #[prost(string, tag = "2")]
    producer_name: String,
    #[prost(string, tag = "3")]
    producer_version: String,
    #[prost(string, tag = "6")]
    doc_string: String,
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    opset_import: Vec<OperatorSetIdProto>,
    #[prost(message, repeated, tag = "14")]
    metadata_props: Vec<StringStringEntryProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    domain: String,
    #[prost(int64, tag = "2")]
    version: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StringStringEntryProto {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
    #[prost(string, tag = "10")]
    doc_string: String,
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(int64, tag = "3")]
    i: i64,
    #[prost(int32, tag = "20")]
    r#type: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(string, tag = "8")]
    name: String,
    /// Little-endian values, row-major.
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ValueInfoProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    r#type: Option<TypeProto>,
    #[prost(string, tag = "3")]
    doc_string: String,
}

/// `TypeProto` with its `value` oneof reduced to the one member we use, `tensor_type`.
#[derive(Clone, PartialEq, prost::Message)]
struct TypeProto {
    #[prost(message, optional, tag = "1")]
    tensor_type: Option<TensorTypeProto>,
}

/// `TypeProto.Tensor`.
#[derive(Clone, PartialEq, prost::Message)]
struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    elem_type: i32,
    #[prost(message, optional, tag = "2")]
    shape: Option<TensorShapeProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    dim: Vec<Dimension>,
}

/// `TensorShapeProto.Dimension`: its `value` oneof as two optional fields, one of them set
/// (a set optional field is written even when it holds 0, as a oneof member is).
#[derive(Clone, PartialEq, prost::Message)]
struct Dimension {
    #[prost(int64, optional, tag = "1")]
    dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    dim_param: Option<String>,
}
