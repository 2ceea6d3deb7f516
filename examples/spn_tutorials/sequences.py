"""Variable-length binary sequences from a hidden Markov model, and a dynamic SPN to model them."""

import numpy as np
from tensorflow import keras

from libspn_keras import layers, models

# The generating HMM: symmetric transitions (so the uniform start is stationary) and per-state emissions.
TRANSITIONS = np.array([[0.85, 0.15], [0.15, 0.85]])
START = np.array([0.5, 0.5])
EMISSIONS = np.array([[0.9, 0.2], [0.15, 0.75]])  # P(x_v = 1 | state) for the 2 variables of a step
NUM_VARS = 2


def sample_sequences(num, min_length, max_length, rng):
    """``num`` HMM sequences ``[num, max_length, 2]`` int32, padded with -1 after their random length."""
    lengths = rng.integers(min_length, max_length + 1, size=num)
    states = np.zeros((num, max_length), dtype=int)
    states[:, 0] = rng.random(num) < START[1]
    for t in range(1, max_length):
        switch = rng.random(num) < TRANSITIONS[states[:, t - 1], 1 - states[:, t - 1]]
        states[:, t] = np.where(switch, 1 - states[:, t - 1], states[:, t - 1])
    emissions = (rng.random((num, max_length, NUM_VARS)) < EMISSIONS[states]).astype("int32")
    padding = np.arange(max_length)[None, :] >= lengths[:, None]
    emissions[padding] = -1
    return emissions, lengths


def true_log_likelihood(sequences):
    """``log p(sequence)`` under the generating HMM by the (scaled) forward algorithm; padded steps skipped."""
    result = np.zeros(len(sequences))
    for index, sequence in enumerate(sequences):
        # alpha[s] = p(state_t = s | x_1..x_t) after scaling; the scales multiply up to p(x_1..x_t).
        alpha = None
        for step in sequence:
            if step[0] < 0:
                break
            prior = START if alpha is None else alpha @ TRANSITIONS
            emission = np.prod(np.where(step == 1, EMISSIONS, 1 - EMISSIONS), axis=1)
            alpha = prior * emission
            total = alpha.sum()
            result[index] += np.log(total)
            alpha = alpha / total
    return result


def independent_steps_log_likelihood(train, data):
    """Mean LL of ``data`` when every step is drawn independently from the training steps' distribution."""
    observed = train[train[:, :, 0] >= 0]
    codes = observed[:, 0] * 2 + observed[:, 1]
    log_p = np.log((np.bincount(codes, minlength=4) + 1.0) / (len(codes) + 4.0))
    steps = data[:, :, 0] >= 0
    return float(np.sum(np.where(steps, log_p[np.maximum(data[:, :, 0] * 2 + data[:, :, 1], 0)], 0.0)) / len(data))


def build_dynamic_spn(max_length, sum_op, num_template_sums=4, num_interface_sums=2):
    """A dynamic SPN: per step indicators -> per-variable sums -> product -> template sums, chained by interfaces."""
    template = keras.Sequential(
        [
            layers.FlatToRegions(num_decomps=1),
            layers.IndicatorLeaf(num_components=2),
            layers.DenseSum(num_sums=num_template_sums, sum_op=sum_op),
            layers.DenseProduct(num_factors=NUM_VARS),
            layers.DenseSum(num_sums=num_template_sums, sum_op=sum_op),
        ]
    )
    model = models.DynamicSumProductNetwork(
        template, num_interface_sums=num_interface_sums, sum_kwargs={"sum_op": sum_op}
    )
    model.build((None, max_length, NUM_VARS))
    return model


def mean_log_likelihood(model, data):
    """Mean ``log p(sequence)`` of the model's outputs over ``data``."""
    return float(np.mean(model.predict(data, batch_size=1000, verbose=0)))


def compile_for(model, method, learning_rate):
    """Compiles ``model`` for ``method``: ``"gradient"`` (Adam on the NLL) or ``"em"`` (online EM).

    Returns:
        The ``LogLikelihood`` metric it logs (its ``name`` keys the history).
    """
    from libspn_keras import metrics, optimizers

    if method == "gradient":
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    else:
        optimizer = optimizers.OnlineExpectationMaximization(learning_rate=learning_rate)
    log_likelihood = metrics.LogLikelihood()
    model.compile(optimizer=optimizer, metrics=[log_likelihood])
    return log_likelihood
