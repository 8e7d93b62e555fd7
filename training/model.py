"""Show, Attend and Tell, shaped for int8 edge inference.

encoder:  image float[B,224,224,3] (0..255) -> backbone grid [B,7,7,C] -> head ->
          features [B,49,D], keys [B,49,A] (= W_f f, computed once per image), h0/c0 [B,H]
          (+ classes [B,1000]: the ImageNet classifier of the same backbone, when cfg.classes)
decoder step (one word, explicit state; no RNN layer, whose while-loop breaks int8 calibration):
          token int32[B], h [B,H], (c [B,H]), features, keys ->
          logits [B,V], h', (c'), alpha [B,49]
"""

from __future__ import annotations

import keras
from keras import layers, ops

from .backbone import IMAGENET_CLASSES, build_backbone_with_classes
from .config import ModelConfig


def build_head(cfg: ModelConfig, channels: int) -> keras.Model:
    """Backbone grid -> what the decoder needs, all of it image-only (so it runs once per image)."""
    g = cfg.grid
    grid = keras.Input((g, g, channels), name="grid")
    f = layers.Reshape((g * g, channels))(grid)  # [B,49,C]
    f = layers.Dense(cfg.feature_dim, activation="relu", name="feat_proj")(f)  # [B,49,D]
    keys = layers.Dense(cfg.attention_dim, use_bias=False, name="att_keys")(f)  # [B,49,A]
    mean = layers.GlobalAveragePooling1D()(f)  # [B,D]
    outs = {"features": f, "keys": keys, "h": layers.Dense(cfg.hidden_dim, activation="tanh", name="init_h")(mean)}
    if cfg.cell == "lstm":
        outs["c"] = layers.Dense(cfg.hidden_dim, activation="tanh", name="init_c")(mean)
    return keras.Model(grid, outs, name="head")


def build_encoder(cfg: ModelConfig, weights: str = "none") -> tuple[keras.Model, keras.Model, keras.Model]:
    """(encoder, backbone, head); encoder = head(backbone(image)) with named outputs. With cfg.classes
    the encoder also outputs the backbone's own ImageNet probabilities (frozen: it is the classifier's)."""
    backbone, clf_head = build_backbone_with_classes(cfg.backbone, cfg.alpha, cfg.image_size, weights)
    head = build_head(cfg, backbone.output.shape[-1])
    image = keras.Input((cfg.image_size, cfg.image_size, 3), name="image")
    grid = backbone(image)
    out = dict(head(grid))
    if cfg.classes:
        if clf_head is None or cfg.classes != IMAGENET_CLASSES:
            raise ValueError(f"{cfg.backbone} has no {cfg.classes}-class head to keep; use classes 0")
        classes = layers.Dense(cfg.classes, activation="softmax", name="imagenet", trainable=False)
        out["classes"] = classes(layers.GlobalAveragePooling2D(name="imagenet_pool")(grid))
        classes.set_weights(clf_head.get_weights())
    encoder = keras.Model(image, {k: layers.Identity(name=k)(v) for k, v in out.items()}, name="encoder")
    return encoder, backbone, head


class _Attend(layers.Layer):
    """Soft (Bahdanau) attention: alpha = softmax(v . tanh(keys + W_h h)); context = sum alpha f."""

    def __init__(self, attention_dim: int, **kw):
        super().__init__(**kw)
        self.query = layers.Dense(attention_dim, name="att_query")
        self.score = layers.Dense(1, name="att_score")

    def call(self, h, features, keys):
        e = self.score(ops.tanh(keys + ops.expand_dims(self.query(h), 1)))[..., 0]  # [B,49]
        alpha = ops.softmax(e, axis=-1)  # [B,49]
        context = ops.sum(ops.expand_dims(alpha, -1) * features, axis=1)  # [B,D]
        return context, alpha


def build_decoder_step(cfg: ModelConfig) -> keras.Model:
    p = cfg.grid * cfg.grid
    token = keras.Input((), dtype="int32", name="token")
    h = keras.Input((cfg.hidden_dim,), name="h")
    states = [h]
    if cfg.cell == "lstm":
        states.append(keras.Input((cfg.hidden_dim,), name="c"))
    features = keras.Input((p, cfg.feature_dim), name="features")
    keys = keras.Input((p, cfg.attention_dim), name="keys")

    emb = layers.Embedding(cfg.vocab_size, cfg.embed_dim, name="embed")(token)  # [B,E]
    context, alpha = _Attend(cfg.attention_dim, name="attend")(h, features, keys)
    gate = layers.Dense(1, activation="sigmoid", name="gate")(h)  # [B,1] the paper's beta
    context = gate * context
    x = layers.Concatenate()([emb, context])
    x = layers.Dropout(cfg.dropout)(x)
    if cfg.cell == "lstm":
        out, new = layers.LSTMCell(cfg.hidden_dim, name="cell")(x, states)
    else:
        out, new = layers.GRUCell(cfg.hidden_dim, name="cell")(x, states)
    new = new if isinstance(new, (list, tuple)) else [new]
    # deep output layer: p(y|...) from embedding + state + context
    deep = emb + layers.Dense(cfg.embed_dim, name="out_h")(out) + layers.Dense(cfg.embed_dim, name="out_ctx")(context)
    deep = layers.Dropout(cfg.dropout)(ops.tanh(deep))
    logits = layers.Dense(cfg.vocab_size, name="logits")(deep)
    outputs = {
        "logits": logits,
        "h": layers.Identity(name="h_out")(new[0]),
        "alpha": layers.Identity(name="alpha")(alpha),
    }
    if cfg.cell == "lstm":
        outputs["c"] = layers.Identity(name="c_out")(new[1])
    return keras.Model([token, *states, features, keys], outputs, name="decoder_step")


def decoder_inputs(state_names: tuple[str, ...]) -> list[str]:
    """Input order of build_decoder_step (state_names: ModelConfig.state_names)."""
    return ["token", *state_names, "features", "keys"]


def decoder_step(decoder, cfg: ModelConfig, token, state, enc, training: bool = False) -> dict:
    """One decoder step: token [B], state {name: [B,H]} (or a list in cfg.state_names order), enc the
    encoder outputs ("features", "keys"); the inputs go in decoder_inputs' order, written nowhere else."""
    if not isinstance(state, dict):
        state = dict(zip(cfg.state_names, state))
    named = {"token": token, **state, "features": enc["features"], "keys": enc["keys"]}
    return decoder([named[n] for n in decoder_inputs(cfg.state_names)], training=training)
