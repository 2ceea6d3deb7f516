"""Train a small RAT-SPN with ``tf.distribute.MultiWorkerMirroredStrategy`` on two local worker processes.

Every worker builds the same RAT-SPN twice, once with EM sum ops trained by
``OnlineExpectationMaximization`` and once with gradient sum ops trained by
SGD, on the same synthetic binary data, and trains it with a plain
``model.fit(x, batch_size=...)``: Keras splits each global batch between the
workers, and the SPN models weigh each worker's gradients (and so its EM
counts) by its share of the batch before they are summed, so the weights
after training are those of a single process that trains on the whole
batches, also when a batch does not split evenly (the default 255 samples
end with a batch of 31). The chief (worker 0) prints the final mean
log-likelihood of each model.

Usage::

    python examples/multi_worker.py --launch         # spawns 2 workers on 127.0.0.1 and prints their outputs
    python examples/multi_worker.py --single         # the same training in one process (the reference)
    python examples/multi_worker.py --launch --out DIR   # also saves the final weights to DIR/*.npz

A worker is started by the launcher as
``python examples/multi_worker.py --worker-index I --ports P0,P1``: it sets
``TF_CONFIG`` for a cluster of workers at ``127.0.0.1:P0`` and
``127.0.0.1:P1`` with itself as task ``I`` before TensorFlow starts.
"""

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NUM_WORKERS = 2
MODEL_KINDS = ("em", "grad")


def free_ports(count):
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago (bound to port 0, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(ports, index):
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of workers on ``127.0.0.1:ports``."""
    return json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def make_data(num_samples, num_vars, seed):
    """Binary samples of a mixture of 3 product-of-Bernoulli clusters, ``int32 [num_samples, num_vars]``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    probabilities = rng.uniform(0.05, 0.95, size=(3, num_vars))
    clusters = rng.choice(3, size=num_samples, p=[0.5, 0.3, 0.2])
    return (rng.random((num_samples, num_vars)) < probabilities[clusters]).astype("int32")


def build_model(kind, num_vars):
    """A RAT-SPN over ``num_vars`` binary variables with EM (``kind='em'``) or gradient (``'grad'``) sum ops."""
    from libspn_keras import models

    return models.build_rat_spn(
        num_vars=num_vars, depth=2, num_decomps=2, num_input_distributions=4, num_sums=4, sum_op=kind
    )


def make_optimizer(kind, learning_rate):
    from tensorflow import keras

    from libspn_keras import optimizers

    if kind == "em":
        return optimizers.OnlineExpectationMaximization(learning_rate=learning_rate)
    return keras.optimizers.SGD(learning_rate=learning_rate)


def train(strategy, kind, x, args):
    """Trains one model under ``strategy`` (``None`` for a single process).

    The initial weights come from a copy built outside the strategy after
    seeding, so every worker and the single-process reference start alike.

    Returns:
        ``(final weights, mean LL before training, mean LL after training)``.
    """
    import numpy as np
    from tensorflow import keras

    keras.utils.set_random_seed(args.seed)
    reference = build_model(kind, x.shape[1])
    initial_weights = reference.get_weights()
    initial_log_likelihood = float(np.mean(reference(x)))
    learning_rate = args.em_learning_rate if kind == "em" else args.sgd_learning_rate
    # The model (and its optimizer) must be created in the strategy's scope; training needs nothing else.
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(kind, x.shape[1])
        model.set_weights(initial_weights)
        model.compile(optimizer=make_optimizer(kind, learning_rate))
    model.fit(x, batch_size=args.batch_size, epochs=args.epochs, shuffle=False, verbose=0)
    log_likelihood = float(np.mean(model.predict(x, batch_size=len(x), verbose=0)))
    return model.get_weights(), initial_log_likelihood, log_likelihood


def run_training(strategy, args, label):
    import numpy as np

    x = make_data(args.num_samples, args.num_vars, args.seed)
    results = {}
    for kind in MODEL_KINDS:
        start = time.perf_counter()
        weights, initial_log_likelihood, log_likelihood = train(strategy, kind, x, args)
        results[kind] = (weights, log_likelihood)
        if label is not None:
            print(
                f"{label} {kind}: initial LL {initial_log_likelihood:.6f}, final LL {log_likelihood:.6f} "
                f"({time.perf_counter() - start:.1f} s)",
                flush=True,
            )
    if args.out is not None and label is not None:
        os.makedirs(args.out, exist_ok=True)
        name = "single" if strategy is None else "multi_worker"
        arrays = {"log_likelihood_" + kind: np.float64(results[kind][1]) for kind in MODEL_KINDS}
        for kind in MODEL_KINDS:
            arrays.update({f"{kind}_{index}": value for index, value in enumerate(results[kind][0])})
        np.savez(os.path.join(args.out, f"{name}.npz"), **arrays)
    return results


def run_worker(args):
    ports = [int(port) for port in args.ports.split(",")]
    os.environ["TF_CONFIG"] = tf_config(ports, args.worker_index)
    import tensorflow as tf

    # The strategy must exist before any other TensorFlow op runs.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    print(
        f"worker {args.worker_index}: {strategy.num_replicas_in_sync} replicas in sync, cluster 127.0.0.1:{ports}",
        flush=True,
    )
    run_training(strategy, args, "chief" if args.worker_index == 0 else None)
    print(f"worker {args.worker_index}: done", flush=True)


def launch(args):
    """Spawns the workers, waits up to ``--timeout`` seconds, prints their outputs; returns the exit status."""
    ports = free_ports(NUM_WORKERS)
    passed = [
        f"--{name.replace('_', '-')}={getattr(args, name)}"
        for name in ("epochs", "batch_size", "num_samples", "num_vars", "seed", "em_learning_rate", "sgd_learning_rate")
    ] + ([f"--out={args.out}"] if args.out is not None else [])
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    workers = [
        subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), f"--worker-index={index}", f"--ports={ports[0]},{ports[1]}"]
            + passed,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for index in range(NUM_WORKERS)
    ]
    print(f"launched {NUM_WORKERS} workers on 127.0.0.1 ports {ports}", flush=True)
    deadline = time.monotonic() + args.timeout
    outputs, status = [], 0
    for index, worker in enumerate(workers):
        try:
            output, _ = worker.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            output, _ = worker.communicate()
            output += f"\n(worker {index} killed after the {args.timeout:.0f} s timeout)"
        outputs.append(output)
        status = status or worker.returncode
    for index, (worker, output) in enumerate(zip(workers, outputs)):
        print(f"----- worker {index} (exit {worker.returncode}) -----")
        print(output.rstrip(), flush=True)
    return 0 if status == 0 else 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--launch", action="store_true", help="spawn the 2 local workers and print their outputs")
    mode.add_argument("--single", action="store_true", help="train in this one process (the reference)")
    parser.add_argument("--worker-index", type=int, default=None, help="run as this worker (set by --launch)")
    parser.add_argument("--ports", default=None, help="comma-separated ports of the workers (set by --launch)")
    parser.add_argument("--out", default=None, help="folder to save the final weights and LL in")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds the launcher waits for the workers")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="global batch size")
    parser.add_argument("--num-samples", type=int, default=255)
    parser.add_argument("--num-vars", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--em-learning-rate", type=float, default=0.5)
    parser.add_argument("--sgd-learning-rate", type=float, default=0.5)
    args = parser.parse_args(argv)
    if args.worker_index is not None and args.ports is None:
        parser.error("--worker-index needs --ports")
    if not (args.launch or args.single or args.worker_index is not None):
        args.launch = True
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.launch:
        return launch(args)
    if args.single:
        run_training(None, args, "single")
        return 0
    run_worker(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
