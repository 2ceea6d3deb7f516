"""A dynamic SPN on variable-length binary sequences, trained by gradient and by EM, checked against the truth.

The data come from a hidden Markov model: a 2-state Markov chain (started
in its stationary distribution) emits 2 binary variables per step, each
depending only on the current state. Sequences have random lengths and are
padded to a common length with -1, which the indicator leaves treat as
missing, so the padded steps are marginalized exactly.

``DynamicSumProductNetwork`` applies one *template* SPN (over the 2
variables of a step) at every step and chains the steps through *interface*
sums: the interface at step ``t`` mixes the products of the interface at
``t - 1`` and the template at ``t``, with the same weights at every step, so
one model takes any length. With 2 interface sums this structure can express
the generating HMM exactly (the interface sums play the hidden states), so a
well-trained model should get close to the true log-likelihood, which the
script computes with the forward algorithm in NumPy on the unpadded steps.

Two copies are trained: one by gradient descent (Adam on the negative
log-likelihood, log-space sum weights) and one by online EM (EM sum ops,
linear-space weights, ``OnlineExpectationMaximization``). The mean held-out
log-likelihood per sequence is printed for both, next to the untrained
model, a baseline without any dependence between steps (the empirical
distribution of one step, applied to every step) and the true HMM.

Usage::

    python3 examples/dynamic_spn.py            # 2,000 sequences, 10 epochs each way, about half a minute
    python3 examples/dynamic_spn.py --quick    # smoke run: 1 epoch on a few hundred sequences
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from tensorflow import keras  # noqa: E402

from libspn_keras import layers, metrics, models, optimizers  # noqa: E402

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
    return float(np.mean(model.predict(data, batch_size=1000, verbose=0)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch on a few hundred sequences (a smoke test)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per training method (default 10, 1 quick)")
    parser.add_argument("--num-train", type=int, default=None, help="training sequences (default 2000)")
    parser.add_argument("--min-length", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--adam-learning-rate", type=float, default=0.05)
    parser.add_argument("--em-learning-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 10)
    num_train = args.num_train if args.num_train is not None else (300 if args.quick else 2000)

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train, _ = sample_sequences(num_train, args.min_length, args.max_length, rng)
    test, test_lengths = sample_sequences(max(num_train // 4, 100), args.min_length, args.max_length, rng)
    print(
        f"HMM sequences: {len(train)} train, {len(test)} held out, lengths {args.min_length}..{args.max_length} "
        f"(padded to {args.max_length} with -1), {NUM_VARS} binary variables per step"
    )

    results = {}
    for method in ("gradient", "em"):
        keras.utils.set_random_seed(args.seed)
        model = build_dynamic_spn(args.max_length, "grad" if method == "gradient" else "em")
        results.setdefault("untrained", mean_log_likelihood(model, test))
        optimizer = (
            keras.optimizers.Adam(learning_rate=args.adam_learning_rate)
            if method == "gradient"
            else optimizers.OnlineExpectationMaximization(learning_rate=args.em_learning_rate)
        )
        model.compile(optimizer=optimizer, metrics=[metrics.LogLikelihood()])
        print(f"training the dynamic SPN by {method}:")
        start = time.perf_counter()
        model.fit(train, batch_size=args.batch_size, epochs=epochs, shuffle=True, verbose=2)
        print(f"training time ({method}): {time.perf_counter() - start:.1f} s for {epochs} epoch(s)")
        results[method] = mean_log_likelihood(model, test)

    results["independent steps"] = independent_steps_log_likelihood(train, test)
    results["true HMM"] = float(np.mean(true_log_likelihood(test)))
    print(
        f"mean held-out log-likelihood per sequence ({len(test)} sequences, "
        f"{test_lengths.mean():.1f} steps on average):"
    )
    for name in ("untrained", "independent steps", "gradient", "em", "true HMM"):
        label = {"gradient": "dynamic SPN, gradient", "em": "dynamic SPN, EM"}.get(name, name)
        print(f"  {label:24s} {results[name]:9.4f}")
    for method in ("gradient", "em"):
        print(f"gap to the true HMM ({method}): {results['true HMM'] - results[method]:.4f} nats per sequence")


if __name__ == "__main__":
    main()
