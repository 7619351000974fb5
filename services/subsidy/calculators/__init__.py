"""The calculator of each program: its inputs model and its pure function."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.subsidy.calculators import bonds, kaso, local_economy, settlement, talent
from services.subsidy.calculators.base import Context, Inputs

# The function takes the calculator's own inputs model, a subclass of Inputs: Callable cannot say "the model
# above", so its second argument is Any and `Calculator.inputs` validates what reaches it.
Compute = Callable[[Context, Any], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Calculator:
    inputs: type[Inputs]
    compute: Compute


CALCULATORS: dict[str, Calculator] = {
    "local10000": Calculator(local_economy.Local10000Inputs, local_economy.local10000),
    "distributed_energy": Calculator(local_economy.DistributedEnergyInputs, local_economy.distributed_energy),
    "decarbonization_experts": Calculator(
        local_economy.DecarbonizationExpertsInputs, local_economy.decarbonization_experts
    ),
    "chiiki_okoshi": Calculator(settlement.ChiikiOkoshiInputs, settlement.chiiki_okoshi),
    "okoshi_obog_network": Calculator(settlement.ObogNetworkInputs, settlement.okoshi_obog_network),
    "iju_teiju": Calculator(settlement.IjuTeijuInputs, settlement.iju_teiju),
    "furusato_workholi": Calculator(settlement.FurusatoWorkholiInputs, settlement.furusato_workholi),
    "trial_satellite_office": Calculator(settlement.TrialSatelliteOfficeInputs, settlement.trial_satellite_office),
    "kigyojin": Calculator(talent.KigyojinInputs, talent.kigyojin),
    "advisor": Calculator(talent.AdvisorInputs, talent.advisor),
    "project_manager": Calculator(talent.ProjectManagerInputs, talent.project_manager),
    "teiju_jiritsuken": Calculator(kaso.TeijuJiritsukenInputs, kaso.teiju_jiritsuken),
    "kaso_bond": Calculator(bonds.KasoBondInputs, bonds.kaso_bond),
    "teiju_kasseika_bond": Calculator(bonds.TeijuKasseikaBondInputs, bonds.teiju_kasseika_bond),
    "kaso_grants": Calculator(kaso.KasoGrantsInputs, kaso.kaso_grants),
    "tokutei_kumiai": Calculator(kaso.TokuteiKumiaiInputs, kaso.tokutei_kumiai),
    "digital_talent": Calculator(talent.DigitalTalentInputs, talent.digital_talent),
    "jichitai_mynapoint_system": Calculator(
        local_economy.JichitaiMynapointSystemInputs, local_economy.jichitai_mynapoint_system
    ),
}
