"""The low-level DigitCNN: same function as the Keras digitcnn, the tutorial's workflow, files, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.errors import CnnlabError, ConfigError, DataError, RunError


@pytest.fixture(scope="module")
def standardized(mnist):
    """MNIST standardized with the statistics of all 60,000 training images (the tutorial's recipe)."""
    from cnnlab.data.normalize import Normalizer

    norm = Normalizer.fit("standardize", mnist.x_train)
    return norm, norm.apply(mnist.x_train), norm.apply(mnist.x_test)


def _small_cnn(**options):
    from cnnlab import DigitCNN

    defaults = dict(epochs=1, random_seed=3, conv_1_output_channels=8, conv_2_output_channels=8,
                    fc_3_output_units=32, verbose=False)
    return DigitCNN(**{**defaults, **options})


def test_digitcnn_is_in_the_public_api_with_its_helpers():
    import cnnlab

    assert cnnlab.DigitCNN.__module__ == "cnnlab.tutorial.digitcnn"
    assert callable(cnnlab.load_mnist) and callable(cnnlab.batch_generator)


def test_same_weights_give_the_same_logits_as_the_keras_digitcnn(mnist, standardized):
    import tensorflow as tf

    from cnnlab import DigitCNN
    from cnnlab.models.registry import create_model

    cnn = DigitCNN(random_seed=5, verbose=False)
    # non-zero biases, so a mix-up of biases or a wrong flatten order cannot hide
    for name, variable in cnn.variables.items():
        if name.endswith("_biases"):
            variable.assign(tf.random.stateless_normal(variable.shape, seed=[1, len(name)], stddev=0.1))
    keras_model = create_model("digitcnn")
    for layer in ("conv_1", "conv_2", "fc_3", "fc_4"):
        keras_model.get_layer(layer).set_weights([cnn.variables[f"{layer}/_weights"].numpy(),
                                                  cnn.variables[f"{layer}/_biases"].numpy()])
    images = standardized[2][:100]

    ours = cnn.logits(images)
    theirs = keras_model(images, training=False).numpy()

    assert ours.shape == (100, 10)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    assert np.abs(ours).max() > 0.1  # the comparison is of real, non-trivial outputs


def test_variables_are_named_and_shaped_like_the_tutorial():
    from cnnlab import DigitCNN

    cnn = DigitCNN(verbose=False)
    shapes = {name: tuple(v.shape) for name, v in cnn.variables.items()}
    assert shapes == {
        "conv_1/_weights": (5, 5, 1, 32), "conv_1/_biases": (32,),
        "conv_2/_weights": (5, 5, 32, 64), "conv_2/_biases": (64,),
        "fc_3/_weights": (1024, 1024), "fc_3/_biases": (1024,),
        "fc_4/_weights": (1024, 10), "fc_4/_biases": (10,),
    }
    assert [v.name for v in cnn.trainable_variables][:2] == ["conv_1/_weights:0", "conv_1/_biases:0"]


def test_building_prints_the_layers_like_the_tutorial(capsys):
    _small_cnn(verbose=True)
    printed = capsys.readouterr().out
    assert "Building Conv_1 Layer:" in printed and "Building 4th layer:" in printed
    assert "<tf.Variable 'conv_1/_weights:0' shape=(5, 5, 1, 8) dtype=float32>" in printed
    assert 'Tensor("conv_1/Conv2D:0", shape=(?, 24, 24, 8), dtype=float32)' in printed
    assert 'Tensor("conv_2/activation:0", shape=(?, 8, 8, 8), dtype=float32)' in printed
    assert 'Tensor("fc_4/net_pre-activation:0", shape=(?, 10), dtype=float32)' in printed
    assert printed.count("Building Conv_1 Layer:") == 1  # tf.function's second trace prints nothing

    _small_cnn(verbose=False)
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_one_epoch_with_the_tutorials_settings_reaches_97_percent(mnist, standardized, capsys):
    from cnnlab import DigitCNN

    _, x_train, _ = standardized
    cnn = DigitCNN(epochs=1, random_seed=27)
    history = cnn.train((x_train[:50000], mnist.y_train[:50000]),
                        validation_set=(x_train[50000:], mnist.y_train[50000:]))

    assert list(history.columns) == ["Epoch", "Loss", "Accuracy"]
    assert history["Epoch"].tolist() == [1]
    assert history["Accuracy"].iloc[0] >= 0.97
    # a true average per image (the tutorial printed the sum over 500 batches, ~200)
    assert 0.05 < history["Loss"].iloc[0] < 1.0
    assert "Epoch 01: Training Avg. Loss: " in capsys.readouterr().out


def test_continued_training_keeps_counting_and_keeps_lowering_the_loss(mnist, standardized, capsys):
    x, y = standardized[1][:2000], mnist.y_train[:2000]
    cnn = _small_cnn(epochs=2, verbose=True)
    cnn.train((x, y))
    cnn.train((x, y), initialize=False)

    history = cnn.history
    assert history["Epoch"].tolist() == [1, 2, 3, 4]
    assert history["Accuracy"].isna().all()  # no validation set given
    losses = history["Loss"].to_numpy()
    assert (np.diff(losses) < 0).all(), losses
    printed = capsys.readouterr().out
    assert "Epoch 03: Training Avg. Loss:" in printed and "Validation" not in printed

    restarted = cnn.train((x, y), initialize=True)  # starts over: the same first epoch as before
    assert restarted["Epoch"].tolist() == [1, 2]
    np.testing.assert_allclose(restarted["Loss"], losses[:2], rtol=1e-5)


def test_the_same_seed_repeats_training_and_another_seed_does_not(mnist, standardized):
    x, y = standardized[1][:600], mnist.y_train[:600]
    first = _small_cnn(random_seed=11).train((x, y))["Loss"].iloc[0]
    again = _small_cnn(random_seed=11).train((x, y))["Loss"].iloc[0]
    other = _small_cnn(random_seed=12).train((x, y))["Loss"].iloc[0]
    assert first == pytest.approx(again, rel=1e-6)
    assert other != pytest.approx(first, rel=1e-4)


def test_save_and_load_round_trip_to_identical_predictions(mnist, standardized, tmp_path):
    x, y = standardized[1][:1000], mnist.y_train[:1000]
    cnn = _small_cnn(epochs=2)
    cnn.train((x, y), validation_set=(standardized[1][50000:50500], mnist.y_train[50000:50500]))
    prefix = cnn.save(epoch=2, path=tmp_path / "digitCNN-model")

    assert prefix.endswith("model.ckpt-2")
    assert {p.name for p in (tmp_path / "digitCNN-model").iterdir()} >= {
        "model.ckpt-2.index", "model.ckpt-2.data-00000-of-00001", "model.ckpt-2.history.csv"}

    restored = _small_cnn(epochs=2, random_seed=99)  # different initial weights and seed
    test_x = standardized[2][:300]
    assert not np.array_equal(restored.predict(test_x, return_proba=True), cnn.predict(test_x, return_proba=True))
    restored.load(epoch=2, path=tmp_path / "digitCNN-model")

    np.testing.assert_array_equal(restored.predict(test_x, return_proba=True), cnn.predict(test_x, return_proba=True))
    assert restored.history.equals(cnn.history)
    # the optimizer state, epoch count and seed came back too: training goes on from epoch 3 identically
    cnn.train((x, y), initialize=False)
    restored.train((x, y), initialize=False)
    assert restored.history["Epoch"].tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(restored.logits(test_x), cnn.logits(test_x))


def test_load_refuses_a_missing_epoch_and_a_different_architecture(tmp_path):
    cnn = _small_cnn()
    cnn.save(epoch=1, path=tmp_path)
    with pytest.raises(RunError, match=r"model.ckpt-5.*saved there: model.ckpt-1"):
        cnn.load(epoch=5, path=tmp_path)
    with pytest.raises(RunError, match="does not fit"):
        _small_cnn(fc_3_output_units=16).load(epoch=1, path=tmp_path)


def test_predict_gives_labels_or_probabilities_without_dropout(mnist, standardized):
    cnn = _small_cnn(dropout=0.9)
    x = standardized[2][:50]
    probabilities = cnn.predict(x, return_proba=True)
    labels = cnn.predict(x)

    assert probabilities.shape == (50, 10) and labels.shape == (50,)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(labels, probabilities.argmax(axis=1))
    np.testing.assert_array_equal(cnn.predict(x, return_proba=True), probabilities)  # deterministic: no dropout


def test_accepts_every_documented_image_layout_and_dtype(mnist):
    cnn = _small_cnn()
    raw = mnist.x_test[:20]  # uint8 (N, 784)
    expected = cnn.logits(raw)
    for variant in (raw.reshape(-1, 28, 28), raw.reshape(-1, 28, 28, 1), raw.astype(np.float64),
                    raw.astype(np.float32).reshape(-1, 28, 28)):
        np.testing.assert_array_equal(cnn.logits(variant), expected)
    assert cnn.predict(raw[:0]).shape == (0,)


@pytest.mark.parametrize("images, message", [
    (np.zeros((4, 28, 27)), "shape"),
    (np.zeros((4, 785)), "shape"),
    (np.zeros((4, 28, 28, 3)), "shape"),
    (np.zeros(784), "shape"),
    (np.zeros((4, 784), dtype=np.int64), "dtype"),
    (np.array([["a"] * 784]), "dtype"),
    (np.full((2, 784), np.nan), "NaN"),
])
def test_refuses_images_it_cannot_use(images, message):
    cnn = _small_cnn()
    with pytest.raises(DataError, match=message):
        cnn.predict(images)


def test_refuses_bad_training_sets_and_options():
    cnn = _small_cnn()
    x = np.zeros((10, 784), np.float32)
    with pytest.raises(DataError, match="one label per image"):
        cnn.train((x, np.zeros(9, int)))
    with pytest.raises(DataError, match="0-9"):
        cnn.train((x, np.full(10, 10)))
    with pytest.raises(DataError, match="pair"):
        cnn.train(x)
    with pytest.raises(ConfigError, match="dropout"):
        _small_cnn(dropout=1.0)
    with pytest.raises(ConfigError, match="batchsize"):
        _small_cnn(batchsize=0)
    assert issubclass(DataError, CnnlabError)


def test_export_logs_writes_an_event_file_with_the_graph(tmp_path):
    import tensorflow as tf

    logdir = _small_cnn().export_logs(tmp_path / "logs")
    events = list(logdir.glob("events.out.tfevents.*"))
    assert len(events) == 1

    graph = tf.compat.v1.GraphDef()
    for event in tf.compat.v1.train.summary_iterator(str(events[0])):
        if event.graph_def:
            graph.ParseFromString(event.graph_def)
    op_names = {node.name for node in graph.node}
    assert {"conv_1/Conv2D", "conv_2/Conv2D", "fc_3/MatMul", "fc_4/MatMul", "cross_entropy_loss"} <= op_names
    assert any("dropout" in name for name in op_names)
