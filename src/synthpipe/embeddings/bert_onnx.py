"""The ONNX graph of a BERT sentence encoder, built straight from its safetensors weights.

No torch and no transformers: the weights are read with NumPy (the safetensors format is a
JSON header and raw little-endian arrays) and the graph is written with ``onnx.helper``. It
computes what sentence-transformers' all-MiniLM-L6-v2 pipeline computes: BERT embeddings
(word + absolute position + token type, LayerNorm), the encoder layers (self-attention with the
padding mask, GELU feed-forward, post-LayerNorm), attention-masked mean pooling and L2
normalisation. Measured against transformers + torch: max |diff| ~2e-7 (tests/embeddings).

Only plain BERT configs are supported (:func:`supported`); anything else is exported through
torch by :mod:`synthpipe.embeddings.onnx`.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

OPSET = 17  # LayerNormalization is a standard op from 17
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
_MASKED = -1e9  # added to attention scores of padding positions (exp() underflows to 0)


def supported(model_path: Path) -> bool:
    """True for a BERT encoder in one safetensors file that this builder reproduces."""
    config_path = model_path / "config.json"
    if not config_path.exists() or not (model_path / "model.safetensors").exists():
        return False
    config = json.loads(config_path.read_text())
    return (
        config.get("model_type") == "bert"
        and config.get("hidden_act", "gelu") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
    )


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as a NumPy array (names without a ``bert.`` prefix)."""
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    base = 8 + size
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]])  # a KeyError (e.g. BF16) means unsupported
        array = np.frombuffer(data, dtype, (end - start) // dtype.itemsize, base + start).reshape(info["shape"])
        out[name.removeprefix("bert.")] = array.astype(np.float32) if dtype == np.float16 else array
    return out


class _Graph:
    """A growing list of nodes and initialisers with unique names."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.inits: list = []
        self._count = 0

    def const(self, name: str, array: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str | None = None, **attrs) -> str:
        self._count += 1
        out = name or f"{op_type.lower()}_{self._count}"
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        """x @ weight.T + bias (weights are stored as torch's [out, in]); the product is named
        `name` (so a quantiser can pick the weight products)."""
        product = self.op("MatMul", [x, self.const(f"{name}.w", weight.T)], name=name)
        return self.op("Add", [product, self.const(f"{name}.b", bias)])

    def layer_norm(self, x: str, w: dict, name: str, eps: float) -> str:
        scale, bias = self.const(f"{name}.g", w[f"{name}.weight"]), self.const(f"{name}.beta", w[f"{name}.bias"])
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=eps)


def build_model(model_path: Path):
    """The ONNX ``ModelProto`` of the encoder in `model_path` (see the module docstring)."""
    from onnx import TensorProto, helper

    config = json.loads((model_path / "config.json").read_text())
    w = read_safetensors(model_path / "model.safetensors")
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    g = _Graph()
    x, mask_bias, mask = _embeddings(g, w, eps)
    for layer in range(int(config["num_hidden_layers"])):
        x = _layer(g, w, f"encoder.layer.{layer}", x, mask_bias, hidden, heads, eps)
    pooled = _mean_pool_l2(g, x, mask)
    g.nodes.append(helper.make_node("Identity", [pooled], ["embeddings"], name="embeddings"))
    dims = ["batch", "seq"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims)
              for n in ("input_ids", "attention_mask", "token_type_ids")]  # fmt: skip
    output = helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", hidden])
    graph = helper.make_graph(g.nodes, "sentence_encoder", inputs, [output], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="synthpipe")
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    return model


def _embeddings(g: _Graph, w: dict, eps: float) -> tuple[str, str, str]:
    """Word + position + token-type embeddings, LayerNorm; the additive attention mask."""
    words = g.op("Gather", [g.const("word_emb", w["embeddings.word_embeddings.weight"]), "input_ids"])
    types = g.op("Gather", [g.const("type_emb", w["embeddings.token_type_embeddings.weight"]), "token_type_ids"])
    seq = g.op("Shape", ["input_ids"], start=1, end=2)  # [seq], 1-D
    zero = g.const("zero", np.array([0], dtype=np.int64))
    places = g.op("Slice", [g.const("pos_emb", w["embeddings.position_embeddings.weight"]), zero, seq, zero])
    summed = g.op("Add", [g.op("Add", [words, types]), places])
    x = g.layer_norm(summed, w, "embeddings.LayerNorm", eps)
    mask = g.op("Cast", ["attention_mask"], to=1)  # float
    # (1 - mask) * -1e9, shaped [batch, 1, 1, seq] to broadcast over heads and query positions
    inverted = g.op("Sub", [g.const("f_one", np.array(1.0, dtype=np.float32)), mask])
    bias = g.op("Mul", [inverted, g.const("masked", np.array(_MASKED, dtype=np.float32))])
    bias = g.op("Unsqueeze", [bias, g.const("axes_1_2", np.array([1, 2], dtype=np.int64))])
    return x, bias, mask


def _layer(g: _Graph, w: dict, p: str, x: str, mask_bias: str, hidden: int, heads: int, eps: float) -> str:
    """One post-LayerNorm encoder layer: self-attention, then the GELU feed-forward."""
    head = hidden // heads
    qkv_w = np.concatenate([w[f"{p}.attention.self.{k}.weight"] for k in ("query", "key", "value")])
    qkv_b = np.concatenate([w[f"{p}.attention.self.{k}.bias"] for k in ("query", "key", "value")])
    qkv = g.linear(x, qkv_w, qkv_b, f"{p}.qkv")
    split = [f"{p}.q", f"{p}.k", f"{p}.v"]
    sizes = g.const(f"{p}.sizes", np.array([hidden] * 3, dtype=np.int64))
    g.nodes.append(g.helper.make_node("Split", [qkv, sizes], split, name=f"{p}.split", axis=-1))
    heads_shape = g.const(f"{p}.heads", np.array([0, 0, heads, head], dtype=np.int64))
    q = g.op("Transpose", [g.op("Reshape", [split[0], heads_shape])], perm=[0, 2, 1, 3])
    k = g.op("Transpose", [g.op("Reshape", [split[1], heads_shape])], perm=[0, 2, 3, 1])
    v = g.op("Transpose", [g.op("Reshape", [split[2], heads_shape])], perm=[0, 2, 1, 3])
    scores = g.op("Mul", [g.op("MatMul", [q, k]), g.const(f"{p}.scale", np.array(1 / math.sqrt(head), dtype=np.float32))])
    probs = g.op("Softmax", [g.op("Add", [scores, mask_bias])], axis=-1)
    context = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    context = g.op("Reshape", [context, g.const(f"{p}.merge", np.array([0, 0, hidden], dtype=np.int64))])
    attended = g.linear(context, w[f"{p}.attention.output.dense.weight"], w[f"{p}.attention.output.dense.bias"], f"{p}.attn_out")
    x = g.layer_norm(g.op("Add", [attended, x]), w, f"{p}.attention.output.LayerNorm", eps)
    inner = g.linear(x, w[f"{p}.intermediate.dense.weight"], w[f"{p}.intermediate.dense.bias"], f"{p}.ffn_in")
    inner = _gelu(g, inner, p)
    out = g.linear(inner, w[f"{p}.output.dense.weight"], w[f"{p}.output.dense.bias"], f"{p}.ffn_out")
    return g.layer_norm(g.op("Add", [out, x]), w, f"{p}.output.LayerNorm", eps)


def _gelu(g: _Graph, x: str, p: str) -> str:
    """The exact (erf) GELU: 0.5 x (1 + erf(x / sqrt 2)); onnxruntime fuses it."""
    scaled = g.op("Div", [x, g.const(f"{p}.sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))])
    one_plus = g.op("Add", [g.op("Erf", [scaled]), g.const(f"{p}.g_one", np.array(1.0, dtype=np.float32))])
    return g.op("Mul", [g.op("Mul", [x, one_plus]), g.const(f"{p}.half", np.array(0.5, dtype=np.float32))])


def _mean_pool_l2(g: _Graph, x: str, mask: str) -> str:
    """Attention-masked mean over tokens, then x / max(||x||, 1e-12) (torch's normalize)."""
    weights = g.op("Unsqueeze", [mask, g.const("axis_last", np.array([-1], dtype=np.int64))])
    axis = g.const("axis_tokens", np.array([1], dtype=np.int64))
    total = g.op("ReduceSum", [g.op("Mul", [x, weights]), axis], keepdims=0)
    count = g.op("ReduceSum", [weights, axis], keepdims=0)
    count = g.op("Max", [count, g.const("count_floor", np.array(1e-9, dtype=np.float32))])
    mean = g.op("Div", [total, count])
    norm = g.op("ReduceL2", [mean], axes=[-1], keepdims=1)  # axes: an attribute until opset 18
    norm = g.op("Max", [norm, g.const("norm_floor", np.array(1e-12, dtype=np.float32))])
    return g.op("Div", [mean, norm])
