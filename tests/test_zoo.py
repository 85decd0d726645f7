"""One model of every torchvision classification family and transformers' GPT-2, BERT and Llama.

Small configurations of the same classes (full-size models are in benchmarks/bench_zoo.py):
``layer_degrees`` equals ``to_graph(...).degrees()``, the graph has the layers the model
has, and the model is left as it was.
"""

import numpy as np
import pytest
import torch
import torchvision.models as tv
from torch import nn
from torch.nn.utils import prune

from nn2graph import layer_degrees, to_graph


@pytest.fixture(autouse=True)
def _one_thread():
    """Model building and pruning on one torch thread: several times faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _small_classifier(model, attribute, width=32):
    """AlexNet/VGG with their three-layer classifier narrowed (its 9216 x 4096 layer dominates the run)."""
    first = [m for m in getattr(model, attribute) if isinstance(m, nn.Linear)][0]
    setattr(model, attribute, nn.Sequential(
        nn.Dropout(), nn.Linear(first.in_features, width), nn.ReLU(), nn.Dropout(),
        nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10),
    ))  # fmt: skip
    return model


TORCHVISION = {
    "alexnet": (lambda: _small_classifier(tv.alexnet(weights=None), "classifier"), (3, 63, 63)),
    "vgg11": (lambda: _small_classifier(tv.vgg11(weights=None), "classifier"), (3, 32, 32)),
    "resnet18": (lambda: tv.resnet18(weights=None, num_classes=10), (3, 32, 32)),
    "densenet": (lambda: tv.DenseNet(growth_rate=8, block_config=(2, 2), num_init_features=16, num_classes=10), (3, 32, 32)),
    "googlenet": (lambda: tv.googlenet(weights=None, aux_logits=False, init_weights=False, num_classes=10), (3, 32, 32)),
    "inception_v3": (lambda: tv.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=10), (3, 75, 75)),
    "squeezenet1_0": (lambda: tv.squeezenet1_0(weights=None, num_classes=10), (3, 32, 32)),
    "mobilenet_v2": (lambda: tv.mobilenet_v2(weights=None, num_classes=10), (3, 32, 32)),
    "mobilenet_v3_small": (lambda: tv.mobilenet_v3_small(weights=None, num_classes=10), (3, 32, 32)),
    "mnasnet0_5": (lambda: tv.mnasnet0_5(weights=None, num_classes=10), (3, 32, 32)),
    "efficientnet_b0": (lambda: tv.efficientnet_b0(weights=None, num_classes=10), (3, 32, 32)),
    "regnet_y": (lambda: tv.RegNet(tv.regnet.BlockParams.from_init_params(depth=3, w_0=8, w_a=8.0, w_m=2.0, group_width=8,
                                                                           se_ratio=0.25), num_classes=10), (3, 32, 32)),
    "shufflenet_v2_x0_5": (lambda: tv.shufflenet_v2_x0_5(weights=None, num_classes=10), (3, 32, 32)),
    "convnext": (lambda: tv.ConvNeXt([tv.convnext.CNBlockConfig(8, 16, 1), tv.convnext.CNBlockConfig(16, None, 1)],
                                      num_classes=10), (3, 32, 32)),
    "swin": (lambda: tv.SwinTransformer([4, 4], 8, [1, 1], [1, 2], [2, 2], stochastic_depth_prob=0.0, num_classes=10),
             (3, 16, 16)),
    "swin_v2": (lambda: tv.SwinTransformer([4, 4], 8, [1, 1], [1, 2], [2, 2], stochastic_depth_prob=0.0, num_classes=10,
                                           block=tv.swin_transformer.SwinTransformerBlockV2,
                                           downsample_layer=tv.swin_transformer.PatchMergingV2), (3, 16, 16)),
    "vit": (lambda: tv.VisionTransformer(32, 8, 1, 2, 16, 32, num_classes=10), (3, 32, 32)),
    "maxvit": (lambda: tv.MaxVit((32, 32), 8, 2, [8, 16], [1, 1], 4, 0.0, num_classes=10), (3, 32, 32)),
}


def _transformers(name):
    transformers = pytest.importorskip("transformers")
    if name == "gpt2":
        config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=16, vocab_size=40, n_positions=16,
                                         bos_token_id=0, eos_token_id=0)
        return transformers.GPT2LMHeadModel(config)
    if name == "bert":
        config = transformers.BertConfig(num_hidden_layers=2, num_attention_heads=2, hidden_size=16,
                                         intermediate_size=32, vocab_size=40, max_position_embeddings=16)
        return transformers.BertForMaskedLM(config)
    config = transformers.LlamaConfig(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, hidden_size=16,
                                      intermediate_size=24, vocab_size=40, max_position_embeddings=16)
    return transformers.LlamaForCausalLM(config)


def _prune(model, amount=0.8, seed=0):
    torch.manual_seed(seed)
    layers = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=amount)
    return model


def _check(model, shape, dtype=None):
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    training = [m.training for m in model.modules()]
    layered = to_graph(model, shape, dtype=dtype)
    degrees = layered.degrees()
    direct = layer_degrees(model, shape, dtype=dtype)
    assert list(direct) == list(degrees)
    for name in degrees:
        np.testing.assert_array_equal(direct[name], degrees[name], err_msg=name)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert [m.training for m in model.modules()] == training
    assert all(isinstance(p, torch.Tensor) for p in model.parameters())
    assert len(layered.source) > 0 and (layered.multiplicity > 0).all()
    return layered


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_family(name):
    build, shape = TORCHVISION[name]
    torch.manual_seed(0)
    model = _prune(build())
    layered = _check(model, shape)
    weighted = [p for p, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    # every layer that the input reaches is a layer of the graph, in execution order; ViT's
    # attention input projection is the in_proj_weight of nn.MultiheadAttention
    assert set(layered.layers[1:]) <= set(weighted) | {p + ".in_proj" for p, m in model.named_modules()
                                                        if isinstance(m, nn.MultiheadAttention)}
    assert layered.layers[-1] in weighted


@pytest.mark.parametrize("name", ["gpt2", "bert", "llama"])
def test_transformers_language_model(name):
    torch.manual_seed(0)
    model = _transformers(name)
    layered = _check(model, (6,), dtype=torch.long)
    assert layered.sizes[0] == 40  # the input nodes are the vocabulary entries
    embedding = layered.layers[1]
    assert embedding.endswith(("wte", "word_embeddings", "embed_tokens"))
    # the embedding counts every token position for each non-zero entry
    rank = 1
    into = (layered.target >= layered.starts[rank]) & (layered.target < layered.starts[rank + 1])
    table = model.get_input_embeddings().weight
    assert layered.multiplicity[into].sum() == 6 * int((table != 0).sum())
