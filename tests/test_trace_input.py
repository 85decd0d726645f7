"""The input of a trace: its nodes, and the errors of an input shape or dtype that does not fit."""

import numpy as np
import pytest
import torch
from torch import nn

from nn2graph import InputShapeError, layer_degrees, to_graph
from nn2graph.trace_input import expected_input, input_features, input_tensor, shape_error
from tests.graph_models import mnist_cnn


def test_wrong_input_shape_names_the_layer_and_what_it_expects(capsys):
    with pytest.raises(InputShapeError, match=r"layer '7' \(Linear\) got input of shape \(1, 800\) but expects \(\.\.\., 512\) features"):
        to_graph(mnist_cnn(), (1, 32, 32))
    with pytest.raises(InputShapeError, match=r"layer '0' \(Conv2d\) got input of shape \(1, 3, 28, 28\) but expects \(batch, 1, H, W\)"):
        to_graph(mnist_cnn(), (3, 28, 28))
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""  # no traceback printed before the message


def test_convert_with_a_wrong_input_shape_prints_only_the_message(tmp_path, capsys):
    from nn2graph.cli import main

    path = tmp_path / "cnn.pt"
    torch.save(mnist_cnn(), path)
    code = main(["convert", str(path), "--input-shape", "1,32,32", "--trust-pickle"])
    captured = capsys.readouterr()
    assert code != 0
    assert "Traceback" not in captured.err + captured.out
    assert "layer '7' (Linear) got input of shape (1, 800)" in captured.err


def test_token_ids_given_as_floats_say_to_pass_dtype_long():
    model = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 4))
    with pytest.raises(InputShapeError, match=r"'0' \(Embedding\).*token ids below 50.*dtype=torch\.long"):
        layer_degrees(model, (6,))
    assert {"input", "0"} <= set(layer_degrees(model, (6,), dtype=torch.long))


@pytest.mark.parametrize("mode", ["channels", "elements", "features"])
def test_input_features_give_each_element_the_node_of_its_mode(mode):
    x = input_tensor((2, 3, 4), None)
    n_input, tracked = input_features(x, mode)
    feature = np.broadcast_to(tracked.codes, x.shape) - 1
    channel, row, column = np.meshgrid(np.arange(2), np.arange(3), np.arange(4), indexing="ij")
    expected = {"channels": channel, "elements": (channel * 3 + row) * 4 + column, "features": column}[mode]
    assert n_input == expected.max() + 1
    assert (tracked.sources.node[feature[0]] == expected).all()  # identity sources: feature f is node f


def test_token_input_starts_without_nodes():
    x = input_tensor((5,), torch.long)
    n_input, tracked = input_features(x, "tokens")
    assert x.dtype == torch.long and tuple(x.shape) == (1, 5)
    assert n_input == 0 and tracked.tokens


def test_shape_error_without_a_failed_operation_names_the_model_and_the_error():
    error = shape_error(nn.Sequential(), torch.zeros(1, 3), None, RuntimeError("boom"))
    assert isinstance(error, InputShapeError)
    assert str(error) == "input_shape (3,) does not fit Sequential: RuntimeError: boom"
    assert expected_input(nn.Embedding(7, 2)).startswith("token ids below 7")
    assert expected_input(nn.ReLU()) == "a shape this module accepts"
