"""The [webrtc] section: one token per publisher, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from drone.video.config import WebRTCSection, WhipPublisherSection
from drone.video.whip import read_tokens
from fieldkit.config import Config, validate_config
from fieldkit.errors import ConfigError

SECRET = "a-pilot-token-0123456789"


def test_token_or_token_file_exactly_one() -> None:
    with pytest.raises(ValidationError, match="webrtc -> publishers -> D1: give token or "
                       "token_file"):
        WhipPublisherSection.model_validate({"name": "D1"})
    with pytest.raises(ValidationError, match="give token or token_file"):
        WhipPublisherSection.model_validate({"name": "D1", "token": SECRET,
                                             "token_file": "t"})


def test_short_token_and_duplicates_refused() -> None:
    with pytest.raises(ValidationError, match="the token is shorter than 16 characters"):
        WhipPublisherSection.model_validate({"name": "D1", "token": "short"})
    pub = {"name": "D1", "token": SECRET}
    with pytest.raises(ValidationError, match="webrtc -> publishers: names must be unique"):
        WebRTCSection.model_validate({"publishers": [pub, pub]})


def test_token_never_shown(config: Config) -> None:
    data = config.model_dump(mode="json")
    data["webrtc"] = {"publishers": [{"name": "D1", "token": SECRET}]}
    loaded = validate_config(data, config.base_dir)
    assert SECRET not in repr(loaded)
    assert SECRET not in str(loaded.section(WebRTCSection))
    assert read_tokens(loaded)[0][0] == SECRET


def test_unreadable_token_file_named_not_read(config: Config, tmp_path: Path) -> None:
    pub = WhipPublisherSection.model_validate({"name": "D1", "token_file": tmp_path / "none"})
    cfg = config.model_copy(update={"webrtc": WebRTCSection(publishers=[pub])})
    with pytest.raises(ConfigError, match=r"webrtc -> publishers -> D1: token_file .*none "
                       "cannot be read: No such file or directory"):
        read_tokens(cfg)
    short = tmp_path / "short.token"
    short.write_text("abc\n")
    pub = WhipPublisherSection.model_validate({"name": "D1", "token_file": short})
    cfg = config.model_copy(update={"webrtc": WebRTCSection(publishers=[pub])})
    with pytest.raises(ConfigError, match="the token is shorter than 16 characters"):
        read_tokens(cfg)
