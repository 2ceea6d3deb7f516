"""``save_weights``/``load_weights`` that also take libspn-keras 0.6.0's weight files and file names.

0.6.0 ran on Keras 2, whose ``save_weights`` wrote a TensorFlow checkpoint (``model.save_weights("ckpt/spn")``:
``ckpt/spn.index`` and ``ckpt/spn.data-*``) or, for a name ending in ``.h5``, a Keras 2 HDF5 file. Keras 3 reads
neither into these models: it writes and reads only ``.weights.h5`` names, and its reader of Keras 2 HDF5 files
wants the variables' shapes as Keras 2 saved them (0.6.0 kept leading axes of size 1 that this library drops) and
their names.

The models here load both kinds of 0.6.0 file: layer by layer in the order of the layers that hold variables
(networks nested in the model too: by their names in a checkpoint, as Keras 2 ordered them in an HDF5 file), each
variable by its 0.6.0 name (``sum_weights`` for ``accumulators``, ``onehot_kernel`` for a product's
``kernel``, ``stddev`` for ``std``) and reshaped to this library's shape, which holds the same number of values
in the same order. EM leaves (``use_accumulators=True``) get their statistics from 0.6.0's moment accumulators,
so that they hold the same location and scale. A file that does not fit the model (another number of layers with
variables, a missing or extra variable, another size, values that cannot be in the layer's space, such as
negative linear sum weights) is refused with a ``ValueError`` that names the layer, before any variable is
written. 0.6.0's files do not say whether sums were in log space or whether a scale was trainable (stored as
``softplus^-1``): build the layers with 0.6.0's arguments.

Under any other name than ``.weights.h5`` (``"spn.h5"``, ``"ckpt/spn"``), ``save_weights`` writes Keras 3's
weights format under exactly that name, and ``load_weights`` reads it back, so a 0.6.0 script that saves and
reloads its model runs unchanged.
"""

import glob
import os
import re
import shutil
import tempfile

import h5py
import numpy as np
import tensorflow as tf

from libspn_keras.math.em_roles import pack_leaf_statistics

# This library's variable name -> 0.6.0's, where they differ.
_NAMES_060 = {"accumulators": "sum_weights", "kernel": "onehot_kernel", "std": "stddev"}
# "[network path/]layer_with_weights-<i>/<variable>/.ATTRIBUTES/VARIABLE_VALUE"; the path names nested networks.
_CHECKPOINT_KEY = re.compile(r"^((?:[^/]+/)*?)layer_with_weights-(\d+)/([^/]+)/\.ATTRIBUTES/VARIABLE_VALUE$")
_KERAS3_SUFFIXES = (".keras", ".weights.h5", ".weights.json")


class Restored060Checkpoint:
    """What ``load_weights`` of a 0.6.0 TensorFlow checkpoint returns, as Keras 2 returned a load status.

    Every model variable was written (or the load was refused), so the checks pass; optimizer slots in the
    checkpoint are not read (``compile`` and ``fit`` build new ones), as with Keras 2's ``expect_partial()``.
    """

    def expect_partial(self):
        return self

    def assert_consumed(self):
        return self

    def assert_existing_objects_matched(self):
        return self

    def assert_nontrivial_match(self):
        return self


class WeightFilesMixin:
    """Adds 0.6.0's weight files and file names to a Keras model's ``save_weights`` and ``load_weights``."""

    def save_weights(self, filepath, overwrite=True, save_format=None, options=None, **kwargs):
        """Keras 3's ``save_weights``; a name not ending in ``.weights.h5`` (0.6.0's) is written in its format too.

        ``save_format`` and ``options`` (Keras 2's arguments) are accepted and have no effect.
        """
        path = os.fspath(filepath)
        if path.endswith(_KERAS3_SUFFIXES) or kwargs.get("max_shard_size") is not None:
            return super().save_weights(filepath, overwrite=overwrite, **kwargs)
        # A 0.6.0 name: Keras 3's weights format under exactly this name (save_format and options were Keras 2's).
        label = f"{type(self).__name__} '{self.name}'.save_weights"
        if os.path.isdir(path):
            raise ValueError(f"{label}: {path} is a folder; pass a file name (e.g. {os.path.join(path, 'spn.h5')}).")
        if not overwrite and (os.path.exists(path) or os.path.exists(path + ".index")):
            raise FileExistsError(f"{label}: {path} exists and overwrite=False.")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with tempfile.TemporaryDirectory() as folder:
            temporary = os.path.join(folder, "model.weights.h5")
            super().save_weights(temporary, **kwargs)
            shutil.move(temporary, path)
        # A checkpoint of the same name (0.6.0's) is replaced, as saving it again under Keras 2 would have.
        for stale in glob.glob(glob.escape(path) + ".index") + glob.glob(glob.escape(path) + ".data-*-of-*"):
            os.remove(stale)
        return None

    def load_weights(self, filepath, skip_mismatch=False, by_name=False, options=None, **kwargs):
        """Keras 3's ``load_weights``, which also reads 0.6.0's checkpoints and Keras 2 HDF5 files (see the module).

        Returns a :class:`Restored060Checkpoint` for a 0.6.0 checkpoint (``.expect_partial()`` works as in
        0.6.0 scripts), ``None`` otherwise. Raises ``ValueError`` naming the layer when a 0.6.0 file does not fit
        the model; no variable is changed then.
        """
        path = os.fspath(filepath)
        if path.endswith(_KERAS3_SUFFIXES):
            return super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)
        if _is_checkpoint(path):
            return load_060_weights(self, path, by_name)
        if os.path.isfile(path) and h5py.is_hdf5(path):
            if _is_keras2_h5(path):
                load_060_weights(self, path, by_name)
                return None  # as Keras 2's load_weights of an HDF5 file
            # Keras 3's weights format under a 0.6.0 name (see save_weights): read it under its own suffix.
            with tempfile.TemporaryDirectory() as folder:
                alias = os.path.join(folder, "model.weights.h5")
                os.symlink(os.path.abspath(path), alias)
                return super().load_weights(alias, skip_mismatch=skip_mismatch, **kwargs)
        return super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)


def load_060_weights(model, filepath, by_name=False):
    """Loads a weight file of libspn-keras 0.6.0's ``save_weights`` into ``model``, any built Keras model.

    The models of this library do this in ``load_weights``; this function serves others, e.g. the seed's plain
    ``keras.Sequential`` of SPN layers, whose ``load_weights`` is Keras 3's.

    Args:
        model: The model 0.6.0 saved, rebuilt here with the same layers in the same order and built (called on
            a batch of data).
        filepath: A TensorFlow checkpoint prefix (``"ckpt/spn"``, with ``ckpt/spn.index`` beside it) or a Keras 2
            HDF5 file.
        by_name: Keras 2's argument; only ``False`` (load in layer order) is supported.

    Returns:
        A :class:`~libspn_keras.models.weight_files.Restored060Checkpoint`
        (``.expect_partial()`` works as in 0.6.0 scripts).

    Raises:
        ValueError: naming the layer, when the file does not fit the model (another number of layers with
            variables, a missing or extra variable, another size) or is not a 0.6.0 weight file; no variable is
            changed then.
    """
    path = os.fspath(filepath)
    label = f"{type(model).__name__} '{model.name}'"
    checkpoint = _is_checkpoint(path)
    if checkpoint:
        saved = _read_checkpoint(path)
    else:
        saved = _read_keras2_h5(path) if os.path.isfile(path) and h5py.is_hdf5(path) else None
    if saved is None:
        raise ValueError(
            f"{label}: {path} is neither a TensorFlow checkpoint (no {path}.index) nor a Keras 2 HDF5 weight file, "
            "which is what 0.6.0's save_weights wrote. Pass the path given to 0.6.0's save_weights."
        )
    if by_name:
        raise ValueError(
            f"{label}: load_weights(by_name=True) is not supported for 0.6.0 weight files ({path}); "
            "they are loaded by the order of the layers, as saved: call it without by_name."
        )
    if not model.built or not model.weights:
        raise ValueError(
            f"{label}: build the model before loading 0.6.0 weights from {path} (call it on a batch of data, "
            "as 0.6.0 models were before saving), so that it has variables to load them into."
        )
    if checkpoint:
        pairs = [
            pair for prefix, layers in saved.items() for pair in _paired(_network_at(model, prefix, path), layers, path)
        ]
    else:
        pairs = _paired(model, saved, path)
    assignments = [assignment for layer, values in pairs for assignment in _layer_values(layer, values, path)]
    for variable, value in assignments:
        variable.assign(value)
    return Restored060Checkpoint()


def _is_checkpoint(path):
    """Whether ``path`` names a TensorFlow checkpoint (``path.index``), not a newer file of that very name."""
    index = path + ".index"
    if not os.path.exists(index):
        return False
    return not (os.path.isfile(path) and os.path.getmtime(path) >= os.path.getmtime(index))


class _NestedGroup(list):
    """A Keras 2 HDF5 group holding a nested network: ``[(layer name as saved, {variable: array})]``.

    Keras 2 wrote a network's trainable variables before its fixed ones, so the layers come out of order where
    some hold only fixed variables; :func:`_in_layer_order` restores it by name.
    """


def _in_layer_order(network, group):
    """The saved layers of ``group`` in the order of ``network``'s layers with variables, matched by name.

    Keras names layers ``<kind>`` or ``<kind>_<n>``, numbered as they were made: each layer takes the saved
    layer of its own name, else the lowest-numbered one of its kind left, else one with its variables' names, else
    the next one left.
    """
    left = list(group)

    def kind_and_number(name):
        match = re.fullmatch(r"(.*?)(?:_(\d+))?", name.split("/")[-1])
        return match.group(1), int(match.group(2) or 0)

    def fits(layer, values):  # the saved variables have 0.6.0's names of the layer's variables
        names = {_NAMES_060.get(_short_name(variable), _short_name(variable)) for variable in layer.weights}
        if "statistics" in names:
            names = {"first_order_moment_denom_accum"}
        return names <= set(values)

    ordered = []
    for layer in _layers_with_variables(network):
        kind = kind_and_number(layer.name)[0]
        same_name = [entry for entry in left if entry[0].split("/")[-1] == layer.name]
        same_kind = sorted(
            (entry for entry in left if kind_and_number(entry[0])[0] == kind), key=lambda e: kind_and_number(e[0])[1]
        )
        # Variables that Keras 2 saved without their layer's name (0.6.0's adapted normalization) go by their names.
        same_names = [entry for entry in left if fits(layer, entry[1])]
        chosen = (same_name or same_kind or same_names or left[:1] or [None])[0]
        if chosen is None:
            break
        left.remove(chosen)
        ordered.append(chosen[1])
    return ordered + [values for _, values in left]


def _paired(network, saved, path):
    """``[(layer, {name: array})]``: ``network``'s layers with variables against ``saved`` (in the same order).

    An entry of ``saved`` that is itself a list holds a nested network's layers (a Keras 2 HDF5 file keeps a
    sub-network's variables in one group).
    """
    layers = _layers_with_variables(network)
    if len(layers) != len(saved):
        raise ValueError(
            f"{type(network).__name__} '{network.name}': {path} holds variables of {len(saved)} layers and this "
            f"network has {len(layers)} layers with variables ({', '.join(layer.name for layer in layers)}). Build "
            "the model with the layers that 0.6.0 saved, in the same order."
        )
    pairs = []
    for layer, values in zip(layers, saved):
        if isinstance(values, _NestedGroup):
            if not hasattr(layer, "layers") and len(values) == 1:
                values = values[0][1]  # a layer whose variables Keras 2 named after another scope
            elif hasattr(layer, "layers"):
                values = _in_layer_order(layer, values)
        if isinstance(values, list):
            if not hasattr(layer, "layers"):
                raise ValueError(
                    f"{type(layer).__name__} '{layer.name}': {path} holds a network of {len(values)} layers with "
                    "variables at its place. Build the model with the networks that 0.6.0 saved."
                )
            pairs.extend(_paired(layer, values, path))
        else:
            pairs.append((layer, values))
    return pairs


def _network_at(model, prefix, path):
    """The network that a checkpoint's key prefix (``"template_network/"``) names inside ``model``."""
    network = model
    for part in filter(None, prefix.split("/")):
        index = re.fullmatch(r"layer(_with_weights)?-(\d+)", part)
        if index:
            layers = [layer for layer in network.layers if layer.weights or not index.group(1)]
            found = layers[int(index.group(2))] if int(index.group(2)) < len(layers) else None
        else:
            found = getattr(network, part, None)
        if found is None or not hasattr(found, "layers"):
            raise ValueError(
                f"{type(model).__name__} '{model.name}': {path} holds the variables of a network "
                f"'{prefix.rstrip('/')}' that this model does not have. Build the model with the networks that 0.6.0 "
                "saved."
            )
        network = found
    return network


def _read_checkpoint(path):
    """``{network path: [{variable name: array}]}`` of a Keras 2 checkpoint: its layers with variables, in order.

    The path is ``""`` for the saved model's own layers and, e.g., ``"template_network/"`` for those of a network
    it holds as an attribute (0.6.0's dynamic SPN). A network nested as a layer is a list in its place.
    """
    reader = tf.train.load_checkpoint(path)
    networks = {}
    for key in reader.get_variable_to_shape_map():
        match = _CHECKPOINT_KEY.match(key)
        if match and not match.group(1).startswith("optimizer/"):
            layers = networks.setdefault(match.group(1), {})
            layers.setdefault(int(match.group(2)), {})[match.group(3)] = reader.get_tensor(key)
    nested = {}  # prefix -> {index: prefix of the network nested there}
    for prefix in networks:
        found = re.fullmatch(r"(.*?)layer_with_weights-(\d+)/", prefix)
        while found:
            nested.setdefault(found.group(1), {})[int(found.group(2))] = found.group(0)
            found = re.fullmatch(r"(.*?)layer_with_weights-(\d+)/", found.group(1))

    def assembled(prefix):
        layers = dict(networks.get(prefix, {}))
        layers.update({index: assembled(inner) for index, inner in nested.get(prefix, {}).items()})
        return [layers[index] for index in sorted(layers)]

    roots = {prefix for prefix in [*networks, *nested] if not re.fullmatch(r".*layer_with_weights-\d+/", prefix)}
    return {prefix: assembled(prefix) for prefix in sorted(roots)}


def _keras2_weights(file):
    """The group of a Keras 2 HDF5 file that lists the layers' weights, or ``None`` (e.g. Keras 3's format)."""
    group = file["model_weights"] if "model_weights" in file else file  # a whole model, or weights only
    return group if "layer_names" in group.attrs else None


def _is_keras2_h5(path):
    with h5py.File(path, "r") as file:
        return _keras2_weights(file) is not None


def _read_keras2_h5(path):
    """``[{variable name: array}]`` of the layers with variables in order, or ``None`` if not a Keras 2 file.

    A nested network (a group whose variables belong to several layers) is a list of such dicts.
    """
    with h5py.File(path, "r") as file:
        group = _keras2_weights(file)
        if group is None:
            return None
        layers = []
        for layer_name in map(_text, group.attrs["layer_names"]):
            names = [_text(name) for name in group[layer_name].attrs.get("weight_names", [])]
            by_layer = {}
            for name in names:  # "<layer>/<variable>:0", in the order Keras 2 wrote them
                owner, variable = name.rsplit("/", 1) if "/" in name else (layer_name, name)
                by_layer.setdefault(owner, {})[variable.split(":")[0]] = np.asarray(group[layer_name][name])
            if list(by_layer) == [layer_name]:
                layers.extend(by_layer.values())
            elif by_layer:
                layers.append(_NestedGroup(by_layer.items()))
        return layers


def _layers_with_variables(network):
    return [layer for layer in network.layers if layer.weights]


def _short_name(variable):
    """A variable's own name (``accumulators``), without its layer's path or Keras 2's ``:0``."""
    return variable.name.split("/")[-1].split(":")[0]


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _layer_values(layer, saved, path):
    """``[(variable, value)]`` for ``layer`` from 0.6.0's variables ``saved`` of the matching layer."""
    label = f"{type(layer).__name__} '{layer.name}'"
    if getattr(layer, "use_accumulators", False) and hasattr(layer, "statistics") and "statistics" not in saved:
        saved = dict(saved, statistics=_leaf_statistics_060(layer, saved, label, path))
    pairs, used = [], set()
    for variable in layer.weights:
        name = _short_name(variable)
        key = name if name in saved else _NAMES_060.get(name)
        if key not in saved:
            raise ValueError(
                f"{label}: {path} has no value for its variable '{name}' (0.6.0 saved {sorted(saved)} for this "
                "layer). Build the layer with the arguments 0.6.0's layer had."
            )
        value = np.asarray(saved[key])
        shape = tuple(variable.shape)
        if value.size != int(np.prod(shape)):
            raise ValueError(
                f"{label}: {path} holds {value.size} values of shape {value.shape} for '{name}', which has "
                f"shape {shape}. Build the layer with the sizes 0.6.0's layer had."
            )
        _check_value_space(layer, name, value, label, path)
        pairs.append((variable, value.reshape(shape).astype(variable.dtype)))
        used.add(key)
    unused = sorted(set(saved) - used - {key for key in _MOMENTS_060 if "statistics" in used})
    if unused:
        raise ValueError(
            f"{label}: {path} holds 0.6.0 variables {unused} that this layer does not have. Build the layer with "
            "the arguments 0.6.0's layer had (e.g. use_accumulators, scale_trainable)."
        )
    return pairs


def _check_value_space(layer, name, value, label, path):
    """Refuses values that cannot be what ``layer`` stores (0.6.0's files do not say which space they are in)."""
    if name == "accumulators" and getattr(layer, "logspace_accumulators", None) is False and np.any(value < 0):
        raise ValueError(
            f"{label}: {path} holds negative sum weights for it, which only log-space accumulators hold: build "
            "the layer with logspace_accumulators=True, as 0.6.0's layer was."
        )
    if name == "accumulators" and getattr(layer, "logspace_accumulators", None) is True and value.ndim >= 2:
        columns = value.reshape(-1, value.shape[-2], value.shape[-1])
        if np.all(value >= 0) and np.allclose(columns.sum(axis=1), 1.0, atol=1e-4):
            raise ValueError(
                f"{label}: {path} holds normalized linear sum weights for it: build the layer with "
                "logspace_accumulators=False, as 0.6.0's layer was."
            )
    if name == "scale" and getattr(layer, "stores_softplus_inverse_scale", True) is False and np.any(value <= 0):
        raise ValueError(
            f"{label}: {path} holds scales <= 0 for it, which is how 0.6.0 stored trainable scales (softplus^-1): "
            "build the leaf with scale_trainable=True, as 0.6.0's leaf was."
        )


_MOMENTS_060 = (
    "first_order_moment_denom_accum",
    "first_order_moment_num_accum",
    "second_order_moment_denom_accum",
    "second_order_moment_num_accum",
    "scale",
)


def _leaf_statistics_060(leaf, saved, label, path):
    """An EM leaf's ``[..., 3]`` statistics that give the location and scale of 0.6.0's moment accumulators.

    0.6.0 kept ``n`` and ``n * location``, and either ``n2`` and ``n2 * (scale^2 + location^2)`` (a scale
    learned by EM) or the fixed ``scale`` itself.
    """
    if not {"first_order_moment_denom_accum", "first_order_moment_num_accum"} <= set(saved):
        raise ValueError(
            f"{label}: {path} holds {sorted(saved)} for this leaf, not 0.6.0's moment accumulators: build the "
            "leaf with the use_accumulators that 0.6.0's leaf had."
        )
    count = np.asarray(saved["first_order_moment_denom_accum"], np.float64)
    location = np.divide(saved["first_order_moment_num_accum"], count, out=np.zeros_like(count), where=count != 0)
    if "second_order_moment_num_accum" in saved:
        second = np.asarray(saved["second_order_moment_denom_accum"], np.float64)
        squares = np.divide(
            saved["second_order_moment_num_accum"], second, out=np.zeros_like(second), where=second != 0
        )
        scale = np.sqrt(np.maximum(squares - location**2, 0.0))
    elif "scale" in saved:
        scale = np.asarray(saved["scale"], np.float64)
    else:
        raise ValueError(f"{label}: {path} holds neither 0.6.0's second moments nor its scale for this leaf.")
    variance = leaf.variance_from_scale(tf.constant(scale, tf.float64))
    return (pack_leaf_statistics(tf.constant(location), variance) * count[..., None]).numpy()
