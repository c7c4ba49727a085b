"""Unit tests of Space: normalize/repair, constraints, sampling, encoding, enumeration, JSON."""

from __future__ import annotations

import hashlib
import json
import math
import pickle

import numpy as np
import pytest

from search import Boolean, Constraint, Enum, Integer, InvalidConfig, PowerOfTwo, Space, config_key
from search_testkit import mixed_space, small_space


def test_default_is_normalized():
    assert mixed_space().default() == {"block_m": 64, "warps": 4, "stages": 2, "order": [0, 1, 2], "mode": "a",
                                       "flag": False, "evict": ["", ""], "block_sizes": [16, 8]}


def test_default_is_repaired_or_rejected_by_name():
    shrink = Constraint("fits", lambda c: c["x"] <= 4, repair=lambda c: {**c, "x": 4})
    assert Space({"x": Integer(0, 9, default=9)}, [shrink]).default() == {"x": 4}
    with pytest.raises(InvalidConfig, match="defaults.*'small'"):
        Space({"x": Integer(0, 9, default=9)}, [("small", lambda c: c["x"] <= 4)]).default()


def test_normalize_fills_validates_and_repairs():
    space = mixed_space()
    config = space.normalize({"block_m": 256, "block_sizes": [128, 2], "order": (2, 1, 0), "stages": np.int64(5)})
    assert config["block_m"] == 32  # repaired by tile_area: 32 * 128 <= 4096
    assert config["order"] == [2, 1, 0] and type(config["stages"]) is int
    assert config["mode"] == "a" and space.contains(config)


def test_normalize_rejects_with_the_constraint_name_and_message():
    space = mixed_space()
    with pytest.raises(InvalidConfig, match="'warps_fit'") as raised:
        space.normalize({"block_m": 16, "warps": 32})
    assert raised.value.constraint == "warps_fit"
    message_space = Space({"x": Integer(0, 9)}, [Constraint("even", lambda c: c["x"] % 2 == 0, message="x must be even")])
    with pytest.raises(InvalidConfig, match="'even': x must be even"):
        message_space.normalize({"x": 3})


def test_normalize_names_bad_and_unknown_parameters():
    space = mixed_space()
    with pytest.raises(InvalidConfig, match=r"parameter 'warps': PowerOfTwo\(1, 32\): 3 is not") as raised:
        space.normalize({"warps": 3})
    assert raised.value.parameter == "warps"
    with pytest.raises(InvalidConfig, match="unknown parameter.*'blok_m'.*block_m"):
        space.normalize({"blok_m": 64})


def test_validate_is_strict_and_contains_agrees():
    space = mixed_space()
    config = space.default()
    assert space.validate(config) == config and space.contains(config)
    del config["flag"]
    assert not space.contains(config)
    with pytest.raises(InvalidConfig, match="misses parameter 'flag'"):
        space.validate(config)
    assert not space.contains({**space.default(), "block_m": 256, "block_sizes": [128, 8]})  # needs repair


def test_samples_are_valid_and_deterministic_per_seed():
    space = mixed_space()
    draws = [space.sample(np.random.default_rng(7)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(0)
    assert all(space.contains(space.sample(rng)) for _ in range(200))


def test_sampling_an_empty_space_names_the_rejecting_constraint():
    space = Space({"x": Integer(0, 3)}, [("never", lambda c: False)])
    with pytest.raises(InvalidConfig, match="'never'"):
        space.sample(np.random.default_rng(0))


def test_encode_decode_round_trip():
    space = mixed_space()
    rng = np.random.default_rng(3)
    for _ in range(50):
        config = space.sample(rng)
        vector = space.encode(config)
        assert vector.shape == (space.encoded_size,)
        assert space.decode(vector) == config
    assert space.encode_many([space.default()] * 3).shape == (3, space.encoded_size)


def test_size_and_log_size_are_exact_products():
    space = mixed_space()
    expected = 5 * 6 * 8 * 6 * 3 * 2 * 3 ** 2 * (4 * 7)
    assert space.size() == expected
    assert space.log_size() == pytest.approx(math.log(expected))


def test_enumerate_matches_brute_force_with_constraints():
    expected = []
    for block in (16, 32, 64, 128, 256):
        for warps in (1, 2, 4, 8, 16):
            for stages in (1, 2, 3, 4):
                for order in ([0, 1], [1, 0]):
                    if block * warps <= 2048:
                        expected.append({"block": block, "warps": warps, "stages": stages, "order": order})
    got = small_space().enumerate()
    assert len(got) == 192
    assert sorted(map(config_key, got)) == sorted(map(config_key, expected))
    with pytest.raises(ValueError, match="limit=100"):
        small_space().enumerate(limit=100)


def test_neighbors_match_brute_force_over_the_enumeration():
    space = small_space()
    center = {"block": 128, "warps": 16, "stages": 1, "order": [0, 1]}
    expected = []
    for other in space.enumerate():
        changed = [n for n in space.names if other[n] != center[n]]
        if len(changed) == 1 and other[changed[0]] in space[changed[0]].neighbors(center[changed[0]]):
            expected.append(other)
    got = space.neighbors(center)
    assert sorted(map(config_key, got)) == sorted(map(config_key, expected))
    assert {"block": 256, "warps": 16, "stages": 1, "order": [0, 1]} not in got  # violates threads


def test_json_round_trip_keeps_constraint_names_and_fingerprint():
    space = mixed_space()
    data = json.loads(json.dumps(space.to_json()))
    assert data["constraints"] == ["tile_area", "warps_fit"]
    detached = Space.from_json(data)
    assert detached.to_json() == space.to_json() and detached.fingerprint() == space.fingerprint()
    assert detached.detached_constraints == ("tile_area", "warps_fit") and not detached.constraints
    assert detached.contains({**space.default(), "block_m": 16, "warps": 32})  # nothing enforced
    attached = Space.from_json(data, constraints=mixed_space().constraints)
    assert not attached.contains({**space.default(), "block_m": 16, "warps": 32})
    with pytest.raises(ValueError, match="do not match"):
        Space.from_json(data, constraints=[("other", lambda c: True)])


def test_fingerprint_is_stable_and_sensitive():
    space = Space({"block": PowerOfTwo(16, 64), "flag": Boolean()}, [("c", lambda c: True)])
    canonical = ('{"constraints":["c"],"params":[["block",{"default":16,"high":64,"low":16,"type":"PowerOfTwo"}],'
                 '["flag",{"default":false,"type":"Boolean"}]]}')
    assert space.fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()[:16] == "c2cc3565499aca82"
    assert len(space.fingerprint()) == 16
    variants = [
        Space({"block": PowerOfTwo(16, 64, default=32), "flag": Boolean()}, [("c", lambda c: True)]),
        Space({"flag": Boolean(), "block": PowerOfTwo(16, 64)}, [("c", lambda c: True)]),
        Space({"block": PowerOfTwo(16, 64), "flag": Boolean()}, [("d", lambda c: True)]),
        Space({"block": PowerOfTwo(16, 64), "flag": Boolean()}),
    ]
    assert len({space.fingerprint(), *(v.fingerprint() for v in variants)}) == 5


def test_config_key_is_canonical_and_hashable():
    a = {"x": [1, 2], "y": "z", "flag": True}
    b = {"flag": True, "y": "z", "x": (1, 2)}
    assert config_key(a) == config_key(b) and hash(config_key(a)) == hash(config_key(b))
    assert config_key({"v": True}) != config_key({"v": 1})


def test_mapping_view_and_errors():
    space = small_space()
    assert space.names == ("block", "warps", "stages", "order") and list(space) == list(space.names)
    assert len(space) == 4 and space["stages"] == Integer(1, 4)
    with pytest.raises(KeyError, match="'bolck'.*block"):
        space["bolck"]
    with pytest.raises(TypeError, match="parameter 'x'"):
        Space({"x": 3})
    with pytest.raises(ValueError, match="unique"):
        Space({"x": Boolean()}, [("c", lambda c: True), ("c", lambda c: False)])
    with pytest.raises(TypeError, match="Constraint"):
        Space({"x": Boolean()}, ["not a constraint"])


def test_space_with_only_parameters_pickles():
    space = Space({"x": Enum(["a", "b"]), "y": PowerOfTwo(1, 8)})
    assert pickle.loads(pickle.dumps(space)).to_json() == space.to_json()
