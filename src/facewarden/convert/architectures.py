"""The C++ network types of dlib's face models, as layer sequences to check files against.

A dlib file does not record which wrappers are tags and which are skips, nor
their numbers: they live in the C++ type the file was written from. These
sequences spell out those types, from the input to the output, exactly as
dlib's examples define them (``dnn_face_recognition_ex.cpp`` and
``dnn_mmod_face_detection_ex.cpp``); :func:`match` checks a parsed network
against one layer by layer and refuses any difference.

Tokens: a layer kind of :mod:`facewarden.convert.dlib_layers` (``con``,
``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``fc``), ``tagN`` and
``skipN`` (a marker in the file), ``add_prevN`` (an ``add_prev`` layer).
"""

from __future__ import annotations

import re

from facewarden.convert.dlib_layers import DlibNetwork
from facewarden.errors import ModelError

__all__ = ["ARCHITECTURES", "MMOD_DETECTOR", "RESNET_EMBEDDER", "match"]

_TAGGED = re.compile(r"(tag|skip|add_prev)(\d+)")


def _block() -> list[str]:
    # block<N,BN,stride,S> = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,S>>>>>
    return ["con", "affine", "relu", "con", "affine"]


def _ares() -> list[str]:
    # ares<N,S> = relu<add_prev1<block<N,affine,1,tag1<S>>>>
    return ["tag1", *_block(), "add_prev1", "relu"]


def _ares_down() -> list[str]:
    # ares_down<N,S> = relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<S>>>>>>>
    return ["tag1", *_block(), "tag2", "skip1", "avg_pool", "add_prev2", "relu"]


def _resnet() -> tuple[str, ...]:
    stem = ["con", "affine", "relu", "max_pool"]  # max_pool<3,3,2,2,relu<affine<con<32,7,7,2,2>>>>
    level4 = _ares() * 3
    level3 = _ares_down() + _ares() * 3
    level2 = _ares_down() + _ares() * 2
    level1 = _ares_down() + _ares() * 2
    level0 = _ares_down()
    head = ["avg_pool", "fc"]  # loss_metric<fc_no_bias<128,avg_pool_everything<...>>>
    return tuple(stem + level4 + level3 + level2 + level1 + level0 + head)


def _mmod() -> tuple[str, ...]:
    # downsampler = 3 x relu<affine<con5d>>, then 3 x rcon5 = relu<affine<con5>>, then con<1,9,9>
    return tuple(["con", "affine", "relu"] * 6 + ["con"])


#: dlib_face_recognition_resnet_model_v1: a 29-conv ResNet on 150x150 chips, 128-d output.
RESNET_EMBEDDER: tuple[str, ...] = _resnet()
#: mmod_human_face_detector: a 7-conv sliding-window detector on an image pyramid.
MMOD_DETECTOR: tuple[str, ...] = _mmod()

#: model name (as in :data:`facewarden.models.MODEL_FILES`) -> (architecture, loss, input)
ARCHITECTURES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "resnet_embedder": (RESNET_EMBEDDER, "loss_metric", "input_rgb_image_sized"),
    "mmod_detector": (MMOD_DETECTOR, "loss_mmod", "input_rgb_image_pyramid"),
}


def token_kind(token: str) -> tuple[str, int | None]:
    """``("tag", 1)`` for ``tag1``, ``("con", None)`` for ``con``."""
    found = _TAGGED.fullmatch(token)
    if found is None:
        return token, None
    return found.group(1), int(found.group(2))


def match(network: DlibNetwork, model: str) -> tuple[str, ...]:
    """The architecture of ``model`` after checking ``network`` follows it exactly.

    Raises:
        ModelError: unknown model, or the network differs from the architecture;
            the message names the first differing layer.
    """
    try:
        tokens, loss, input_kind = ARCHITECTURES[model]
    except KeyError:
        choices = ", ".join(sorted(ARCHITECTURES))
        raise ModelError(f"no known architecture for {model!r}; choose one of: {choices}") from None
    if network.loss.kind != loss or network.input.kind != input_kind:
        raise ModelError(
            f"the network has {network.loss.kind} on {network.input.kind}; "
            f"{model} has {loss} on {input_kind}"
        )
    for index, (token, kind) in enumerate(zip(tokens, network.kinds, strict=False)):
        base, _ = token_kind(token)
        expected = "marker" if base in ("tag", "skip") else base
        if kind != expected:
            raise ModelError(
                f"layer {index + 1} from the input is {kind!r} where {model} has {token!r}"
            )
    if len(tokens) != len(network.kinds):
        raise ModelError(
            f"the network has {len(network.kinds)} layers where {model} has {len(tokens)}"
        )
    return tokens
