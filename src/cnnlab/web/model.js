// Runs a cnnlab web model with TensorFlow.js ops on its CPU backend, in float32. model.json lists the layers
// in order (written by cnnlab.export_web, which runs the same list with NumPy to check the export); weights.bin
// holds every weight as little-endian float32, indexed by model.json. Input: raw pixels 0..255, the model's first
// layer normalizes them, exactly as the Keras model does.
"use strict";

const cnnlabModel = (() => {
  async function fetchOk(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response;
  }

  // The description and its weights as tensors (kept for the page's lifetime).
  async function load(base = "") {
    const description = await (await fetchOk(base + "model.json")).json();
    if (description.format !== "cnnlab-web-model" || description.version !== 1) {
      throw new Error("model.json is not a cnnlab web model of version 1; export the run again");
    }
    const bytes = new DataView(await (await fetchOk(base + description.weights_file)).arrayBuffer());
    const weights = {};
    for (const item of description.weights) {
      const values = new Float32Array(item.count);
      for (let i = 0; i < item.count; i++) values[i] = bytes.getFloat32(4 * (item.offset + i), true);
      weights[item.name] = tf.tensor(values, item.shape, "float32");
    }
    return { description, weights };
  }

  function activate(x, activation) {
    switch (activation) {
      case "relu": return tf.relu(x);
      case "sigmoid": return tf.sigmoid(x);
      case "tanh": return tf.tanh(x);
      case "softmax": return tf.softmax(x);
      case "linear": return x;
      default: throw new Error(`unknown activation ${activation}`);
    }
  }

  function withBias(x, layer, w) { return layer.bias ? tf.add(x, w[layer.bias]) : x; }

  function apply(layer, x, w) {
    switch (layer.type) {
      case "rescale": return tf.add(tf.mul(x, w[layer.scale]), w[layer.offset]);
      case "conv2d":
        return activate(withBias(tf.conv2d(x, w[layer.kernel], layer.strides, layer.padding), layer, w), layer.activation);
      case "max_pool": return tf.maxPool(x, layer.pool_size, layer.strides, layer.padding);
      case "batch_norm":
        return tf.batchNorm(x, w[layer.mean], w[layer.variance], w[layer.beta], w[layer.gamma], layer.epsilon);
      case "layer_norm": {
        const { mean, variance } = tf.moments(x, layer.axes, true);
        const y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, layer.epsilon)));
        const scaled = layer.gamma ? tf.mul(y, w[layer.gamma]) : y;
        return layer.beta ? tf.add(scaled, w[layer.beta]) : scaled;
      }
      case "activation": return activate(x, layer.activation);
      case "flatten": return tf.reshape(x, [x.shape[0], -1]);  // NHWC order, as Keras flattens
      case "dense": return activate(withBias(tf.matMul(x, w[layer.kernel]), layer, w), layer.activation);
      default: throw new Error(`unknown layer type ${layer.type} in model.json`);
    }
  }

  // pixels: 784 * N values 0..255, image after image, row by row -> N arrays of class probabilities.
  function predict(model, pixels) {
    const count = pixels.length / 784;
    if (!Number.isInteger(count) || count < 1) throw new Error("pixels must hold 784 values per image");
    const probabilities = tf.tidy(() => {
      let x = tf.tensor4d(Float32Array.from(pixels), [count, 28, 28, 1]);
      for (const layer of model.description.layers) x = apply(layer, x, model.weights);
      return tf.softmax(x).dataSync();
    });
    const classes = probabilities.length / count;
    return Array.from({ length: count }, (_, i) => Array.from(probabilities.subarray(i * classes, (i + 1) * classes)));
  }

  return { load, predict };
})();
