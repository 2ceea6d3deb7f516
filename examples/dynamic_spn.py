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

The HMM, its forward algorithm and the dynamic SPN live in
``examples/spn_tutorials/sequences.py``, shared with the tutorial notebook
``docs/tutorials/dynamic_spn.ipynb``.

Usage::

    python3 examples/dynamic_spn.py            # 2,000 sequences, 10 epochs each way, about half a minute
    python3 examples/dynamic_spn.py --quick    # smoke run: 1 epoch on a few hundred sequences
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from spn_tutorials.sequences import (  # noqa: E402
    NUM_VARS,
    build_dynamic_spn,
    compile_for,
    independent_steps_log_likelihood,
    mean_log_likelihood,
    sample_sequences,
    true_log_likelihood,
)
from tensorflow import keras  # noqa: E402


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
        compile_for(model, method, args.adam_learning_rate if method == "gradient" else args.em_learning_rate)
        print(f"training the dynamic SPN by {method}:")
        start = time.perf_counter()
        verbose = 2 if args.quick else 1  # one line per epoch, or Keras's progress bar
        model.fit(train, batch_size=args.batch_size, epochs=epochs, shuffle=True, verbose=verbose)
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
