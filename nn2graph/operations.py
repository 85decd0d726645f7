"""The operation tables of the tracer: which torch functions and tensor methods follow which rule.

The rules themselves are in :mod:`nn2graph.operation_rules` and described in docs/graph.md.
"""

from __future__ import annotations

import operator
import re

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BINARY", "MASK_FILL", "MATMUL", "MULTIPLY", "NORMS", "NORM_MODULE_NAME", "NO_NODES", "PASS_ATTRIBUTES",
    "REDUCTIONS", "SHAPE", "SHAPE_ATTRIBUTES", "SPATIAL_POOLING", "SUPPORTED_OPERATIONS", "TORCH_NORMS", "UNARY",
    "attribute", "name",
]  # fmt: skip


def _functions(names: str, *, inplace: bool = True) -> set:
    """torch.*, torch.nn.functional.* and Tensor.* callables of these names (and in-place forms)."""
    found = set()
    for name in names.split():
        for variant in (name, name + "_") if inplace else (name,):
            for owner in (torch, F, torch.Tensor, torch.special):
                value = getattr(owner, variant, None)
                if callable(value):
                    found.add(value)
    return found


UNARY = _functions(
    "relu relu6 leaky_relu elu selu celu gelu silu mish hardtanh hardswish hardsigmoid sigmoid tanh softplus "
    "softsign logsigmoid tanhshrink softshrink hardshrink threshold prelu rrelu "
    "dropout dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout "
    "softmax log_softmax softmin neg negative abs exp exp2 expm1 log log2 log1p sqrt rsqrt square pow "
    "sin cos tan erf erfc reciprocal clamp clip clamp_min clamp_max sign nan_to_num "
    "float double half bfloat16 to type type_as contiguous clone detach cpu cuda requires_grad"
)  # fmt: skip
BINARY = _functions("add sub subtract rsub mul multiply div divide true_divide maximum minimum fmax fmin") | {
    torch.Tensor.__add__, torch.Tensor.__radd__, torch.Tensor.__iadd__, torch.Tensor.__sub__,
    torch.Tensor.__rsub__, torch.Tensor.__isub__, torch.Tensor.__mul__, torch.Tensor.__rmul__,
    torch.Tensor.__imul__, torch.Tensor.__truediv__, torch.Tensor.__rtruediv__, torch.Tensor.__itruediv__,
    torch.Tensor.__neg__, operator.add, operator.mul,
}  # fmt: skip
MULTIPLY = _functions("mul multiply") | {torch.Tensor.__mul__, torch.Tensor.__rmul__, torch.Tensor.__imul__}
SHAPE = _functions(
    "view view_as reshape reshape_as flatten unflatten permute transpose swapaxes swapdims movedim moveaxis t "
    "squeeze unsqueeze expand expand_as broadcast_to repeat tile repeat_interleave narrow select chunk split "
    "tensor_split unbind flip roll cat concat concatenate stack pad pixel_shuffle pixel_unshuffle "
    "channel_shuffle native_channel_shuffle",
    inplace=False,
) | {torch.Tensor.__getitem__, torch.Tensor.__setitem__, torch.Tensor.squeeze_, torch.Tensor.unsqueeze_,
     torch.Tensor.transpose_, torch.Tensor.t_}  # fmt: skip
SHAPE_ATTRIBUTES = {"T", "mT"}
PASS_ATTRIBUTES = {"data"}
SPATIAL_POOLING = {
    F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
    F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.lp_pool1d, F.lp_pool2d,
    torch.max_pool1d, torch.max_pool2d, torch.avg_pool1d, torch.adaptive_avg_pool1d, torch.adaptive_max_pool1d,
}  # fmt: skip
REDUCTIONS = _functions("sum mean nansum nanmean amax amin max min logsumexp prod std var norm", inplace=False)
MATMUL = _functions("matmul bmm mm", inplace=False) | {torch.Tensor.__matmul__, torch.Tensor.__rmatmul__}
#: Normalisations: pass-through; their elementwise weight is a gate.  Value: where the weight sits.
NORMS = {
    F.layer_norm: ("trailing", 2), F.rms_norm: ("trailing", 2), F.group_norm: ("channel", 2),
    F.batch_norm: ("channel", 3), F.instance_norm: ("channel", 3), torch.layer_norm: ("trailing", 2),
    torch.batch_norm: ("channel", 1), torch.group_norm: ("channel", 2), F.local_response_norm: (None, None),
    F.normalize: (None, None),
}  # fmt: skip
NO_NODES = _functions(
    "zeros_like ones_like empty_like full_like rand_like randn_like randint_like new_zeros new_ones new_empty "
    "new_full new_tensor eq ne lt le gt ge isnan isinf isfinite argmax argmin argsort __eq__ __ne__ __lt__ __le__ "
    "__gt__ __ge__ logical_not logical_and logical_or bool long int",
    inplace=False,
)  # fmt: skip
MASK_FILL = _functions("masked_fill where", inplace=True)
#: torch's normalisation modules (and their subclasses, e.g. torchvision's LayerNorm2d) are traced into:
#: their functional call says which axis their weight gates.
TORCH_NORMS = (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.LocalResponseNorm, nn.modules.batchnorm._NormBase)
#: Module class names treated as normalisations (pass-through leaves), e.g. LlamaRMSNorm, T5LayerNorm.
NORM_MODULE_NAME = re.compile(r"(RMS|Layer|Group|Batch|Instance)Norm\w*$")

SUPPORTED_OPERATIONS = (
    "activations, dropout, casts (elementwise); add/sub/mul/div/maximum of traced tensors (the union of "
    "their features: residual sums, gates, products of branches); mul by a tensor without nodes (a gate: its "
    "zeros remove features); view/reshape/flatten/permute/transpose/squeeze/unsqueeze/expand/repeat/slicing/"
    "chunk/split/cat/stack/pad/roll/flip/pixel_shuffle/channel_shuffle (features move); sum/mean/max/"
    "pooling (union over the reduced dimensions); matmul/bmm/einsum of two traced tensors and "
    "scaled_dot_product_attention/multi_head_attention_forward (attention); layer/group/batch/RMS/instance "
    "norms (pass-through, zero weights remove features); embeddings of the input token ids"
)


def name(func) -> str:
    if type(func).__name__ == "method-wrapper":  # attribute getters such as Tensor.T
        return getattr(func.__self__, "__name__", "?")
    return getattr(func, "__name__", str(func))


def attribute(func) -> str | None:
    return func.__self__.__name__ if type(func).__name__ == "method-wrapper" and hasattr(func.__self__, "__name__") else None


