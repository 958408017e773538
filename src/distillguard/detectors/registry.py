"""Detectors by name: config picks them; adding one touches only its file and this list."""

from __future__ import annotations

from typing import Any

from distillguard.detectors.base import Detector
from distillguard.detectors.capability import CapabilityDetector
from distillguard.detectors.conversation import ConversationDetector
from distillguard.detectors.elicitation import ElicitationDetector
from distillguard.detectors.metadata import MetadataDetector
from distillguard.detectors.parameters import ParameterDetector
from distillguard.detectors.release import ReleaseDetector
from distillguard.detectors.semantic import SemanticDetector
from distillguard.detectors.template import TemplateDetector
from distillguard.detectors.timing import TimingDetector
from distillguard.detectors.volume import VolumeDetector

REGISTRY: dict[str, type[Detector[Any]]] = {
    cls.name: cls
    for cls in (
        VolumeDetector,
        TimingDetector,
        ConversationDetector,
        TemplateDetector,
        ElicitationDetector,
        CapabilityDetector,
        ParameterDetector,
        ReleaseDetector,
        MetadataDetector,
        SemanticDetector,
    )
}
