"""InfoNCE with a cosine critic: the instance-level loss of DC-VAE (Eq. 6)."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor

from contradistinct._checks import (
    check_floating,
    check_nonempty_batch,
    check_positive,
    check_rank,
    check_same_device,
    check_tensor,
)
from contradistinct._precision import as_float32
from contradistinct._reduction import check_reduction, reduce


def _check_temperature(temperature: float | Tensor, query: Tensor) -> float | Tensor:
    """Refuse a temperature that is not a finite positive number, naming ``temperature``.

    A tensor's value is read only where reading is free: on the CPU, outside ``torch.compile``.
    On an accelerator reading it would synchronise with the device at every step, so there a
    non-positive or non-finite value turns the temperature into NaN on the device instead,
    and with it the loss: never a plausible number (``tensor(-0.07)`` gave 26.13).
    """
    if not isinstance(temperature, Tensor):
        return check_positive(temperature, "temperature")
    temperature = check_floating(temperature, "temperature")
    if temperature.numel() != 1:
        raise ValueError(
            f"temperature must be a scalar tensor, got shape {tuple(temperature.shape)}"
        )
    # PyTorch lets a 0-dim CPU tensor meet tensors of any device; anything else must match.
    if temperature.device != query.device and not (
        temperature.device.type == "cpu" and temperature.ndim == 0
    ):
        check_same_device(query, "query", temperature, "temperature")
    valid = (temperature > 0) & temperature.isfinite()
    if temperature.device.type == "cpu" and not torch.compiler.is_compiling():
        if not bool(valid.all()):
            raise ValueError(
                f"temperature must be positive and finite, got {temperature.detach().tolist()}"
            )
        return temperature
    return torch.where(valid, temperature, torch.full_like(temperature, float("nan")))


def _autocast_disabled(device: torch.device) -> contextlib.AbstractContextManager[object]:
    # torch.autocast refuses the meta device that shape inference runs on; there is nothing to
    # disable there. (torch.amp.is_autocast_available would break a torch.compile graph.)
    if device.type == "meta":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, enabled=False)


def info_nce_logits(
    query: Tensor,
    positive: Tensor,
    negatives: Tensor | None = None,
    *,
    temperature: float | Tensor = 0.07,
    in_batch_negatives: bool = False,
    negative_mask: Tensor | None = None,
) -> Tensor:
    r"""Logits of the InfoNCE classification problem, positive at column 0.

    With the cosine critic :math:`h(x, y) = \langle F(x), F(y)\rangle / (\lVert F(x)\rVert
    \lVert F(y)\rVert)` of DC-VAE Eq. 6, row :math:`i` is

    .. math::

        \ell_i = \bigl[\,\hat q_i^\top \hat k_i,\ \hat q_i^\top \hat n_1,\ \dots,\
        \hat q_i^\top \hat n_K\,\bigr] / \tau,

    where hats denote L2-normalised vectors. With ``in_batch_negatives=True`` the other
    positives of the batch, :math:`\hat k_j,\ j \ne i`, are appended as further negatives.
    Entries excluded by ``negative_mask`` are ``-inf``. The logits are computed in float32 (float64
    for a float64 ``query``) with autocast disabled. Every tensor must be on the device of
    ``query``; on the ``meta`` device the call infers shapes, as ``torch.nn`` does.

    Args:
        query: ``(B, D)`` query embeddings (DC-VAE: the reconstruction through the discriminator).
        positive: ``(B, D)`` positive keys (DC-VAE: the real input through the momentum copy).
        negatives: optional ``(K, D)`` negatives shared by the whole batch (the queue).
        temperature: finite positive float, or a floating scalar tensor (a learnable
            temperature). A tensor holding a non-positive or non-finite value is refused on the
            CPU and gives NaN logits elsewhere (checking it there would cost a host sync).
        in_batch_negatives: also contrast every query against the other rows of ``positive``.
        negative_mask: optional ``(K,)`` or ``(B, K)`` bool tensor, ``True`` where a negative is
            valid; ``False`` entries (e.g. unfilled queue slots) are left out of the softmax.

    Returns:
        ``(B, 1 + K)`` float32 logits, or ``(B, 1 + K + B - 1)`` with in-batch negatives.

    Example:
        >>> import torch
        >>> from contradistinct.functional import info_nce_logits
        >>> q, k, n = torch.randn(4, 16), torch.randn(4, 16), torch.randn(32, 16)
        >>> info_nce_logits(q, k, n).shape
        torch.Size([4, 33])
    """
    query = check_rank(query, "query", 2, "(B, D)")
    positive = check_rank(positive, "positive", 2, "(B, D)")
    check_nonempty_batch(query, "query")
    if positive.shape != query.shape:
        raise ValueError(
            f"positive must have the shape of query (B, D) = {tuple(query.shape)}, "
            f"got {tuple(positive.shape)}"
        )
    check_same_device(query, "query", positive, "positive")
    temperature = _check_temperature(temperature, query)
    batch, dim = query.shape
    if negatives is not None:
        negatives = check_rank(negatives, "negatives", 2, "(K, D)")
        check_same_device(query, "query", negatives, "negatives")
        if negatives.shape[1] != dim:
            raise ValueError(
                f"negatives must have embedding size D = {dim} like query {tuple(query.shape)}, "
                f"got shape {tuple(negatives.shape)}"
            )
    if negative_mask is not None:
        negative_mask = check_tensor(negative_mask, "negative_mask")
        if negatives is None:
            raise ValueError("negative_mask was given without negatives")
        if negative_mask.dtype != torch.bool:
            raise TypeError(f"negative_mask must be a bool tensor, got dtype {negative_mask.dtype}")
        check_same_device(query, "query", negative_mask, "negative_mask")
        num_neg = negatives.shape[0]
        if negative_mask.shape not in ((num_neg,), (batch, num_neg)):
            raise ValueError(
                f"negative_mask must have shape (K,) = ({num_neg},) or (B, K) = "
                f"({batch}, {num_neg}) to match negatives {tuple(negatives.shape)} and query "
                f"{tuple(query.shape)}, got {tuple(negative_mask.shape)}"
            )
    if negatives is None and not in_batch_negatives:
        raise ValueError("InfoNCE needs negatives: pass negatives or set in_batch_negatives=True")

    with _autocast_disabled(query.device):
        # Dividing the (B, D) query by tau rather than the (B, 1 + K) logits saves a full pass
        # over the logits; the products are the same up to rounding.
        query = as_float32(query)
        q = F.normalize(query, dim=1) / temperature
        k = F.normalize(positive.to(query.dtype), dim=1)
        columns = [(q * k).sum(dim=1, keepdim=True)]
        if negatives is not None:
            keys = F.normalize(negatives.to(query.dtype), dim=1).T
            if negative_mask is None:
                columns.append(q @ keys)
            else:
                # A 0 / -inf bias added inside the matmul masks the negatives without another
                # pass over the (B, K) logits forward, nor one backward (masked_fill costs both).
                bias = torch.zeros(negative_mask.shape, dtype=q.dtype, device=q.device)
                bias = bias.masked_fill(~negative_mask, float("-inf"))
                columns.append(torch.addmm(bias, q, keys))
        if in_batch_negatives:
            batch_logits = q @ k.T
            own = torch.eye(batch, dtype=torch.bool, device=q.device)
            columns.append(batch_logits.masked_fill(own, float("-inf")))
        return torch.cat(columns, dim=1)


def info_nce(
    query: Tensor,
    positive: Tensor,
    negatives: Tensor | None = None,
    *,
    temperature: float | Tensor = 0.07,
    reduction: str = "mean",
    in_batch_negatives: bool = False,
    negative_mask: Tensor | None = None,
) -> Tensor:
    r"""InfoNCE loss with a cosine critic (DC-VAE Eq. 6).

    .. math::

        \mathcal L_i = -\log \frac{e^{h(q_i, k_i)/\tau}}
        {e^{h(q_i, k_i)/\tau} + \sum_{j} e^{h(q_i, n_j)/\tau}}
        = \operatorname{logsumexp}(\ell_i) - \ell_{i,0},

    the cross-entropy of the logits of :func:`info_nce_logits` with the positive at index 0,
    evaluated in float32 with a stable log-sum-exp. It is non-negative and equals
    :math:`\log(K + 1)` when every similarity is equal.

    Args:
        query: ``(B, D)`` queries.
        positive: ``(B, D)`` positive keys; row ``i`` is the positive of query ``i``.
        negatives: optional ``(K, D)`` negatives shared by the batch.
        temperature: :math:`\tau > 0`, finite (float or scalar tensor, see
            :func:`info_nce_logits`).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (shape ``(B,)``).
        in_batch_negatives: also use the other positives of the batch as negatives.
        negative_mask: optional bool ``(K,)`` or ``(B, K)``, ``True`` for valid negatives.

    Returns:
        A float32 scalar, or ``(B,)`` for ``reduction="none"``.

    Example:
        >>> import math, torch
        >>> from contradistinct.functional import info_nce
        >>> q = torch.tensor([[1.0, 0.0]])
        >>> negatives = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
        >>> loss = info_nce(q, q, negatives, temperature=0.5)
        >>> torch.allclose(loss, torch.tensor(math.log(4.0)))
        True
    """
    check_reduction(reduction)
    logits = info_nce_logits(
        query,
        positive,
        negatives,
        temperature=temperature,
        in_batch_negatives=in_batch_negatives,
        negative_mask=negative_mask,
    )
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return reduce(F.cross_entropy(logits, target, reduction="none"), reduction)


def contrastive_accuracy(logits: Tensor) -> Tensor:
    """Top-1 accuracy of InfoNCE logits: the fraction of rows whose largest entry is column 0.

    Args:
        logits: ``(B, 1 + K)`` logits with the positive at column 0, ``B >= 1`` (the accuracy of
            an empty batch is undefined, so it is refused rather than returned as NaN).

    Returns:
        A float32 scalar tensor; computed on the device, so logging it costs no host sync until
        it is printed.

    Example:
        >>> import torch
        >>> from contradistinct.functional import contrastive_accuracy
        >>> contrastive_accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]))
        tensor(0.5000)
    """
    logits = check_rank(logits, "logits", 2, "(B, 1 + K)")
    check_nonempty_batch(logits, "logits")
    # The positive is at least every negative exactly when it equals the row maximum; amax reads
    # the logits once, without the (B, K) boolean tensor of a pairwise comparison.
    return (logits[:, 0] >= logits.amax(dim=1)).float().mean()
