"""Payment providers (決済事業者): onboarding, their webhook endpoint and signing secrets."""

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from common.db import get_or_404
from common.errors import Unprocessable
from common.ids import new_id
from common.models import Provider
from common.settings import Settings
from common.timeutil import aware, utcnow
from services.mynapoint import signing
from services.mynapoint.schemas import ProviderUpdate
from services.mynapoint.statements import ProviderSecrets


async def create_provider(
    session: AsyncSession, name: str, webhook_url: str, settings: Settings
) -> tuple[Provider, str]:
    await signing.check_webhook_url(webhook_url, allow_insecure=settings.insecure_webhooks_allowed())
    secret = signing.new_secret()
    provider = Provider(id=new_id("prov"), name=name, webhook_url=webhook_url, webhook_secret=secret)
    session.add(provider)
    await session.flush()
    return provider, secret


async def update_provider(
    session: AsyncSession, provider_id: str, body: ProviderUpdate, settings: Settings
) -> Provider:
    """A new name or endpoint URL (checked as at onboarding); events not yet delivered go to the new URL."""
    provider = await _provider(session, provider_id)
    changes = body.model_dump(exclude_unset=True)
    if None in changes.values():
        field = next(name for name, value in changes.items() if value is None)
        raise Unprocessable(f"{field} cannot be empty; leave it out to keep it", field=field)
    if "webhook_url" in changes:
        await signing.check_webhook_url(changes["webhook_url"], allow_insecure=settings.insecure_webhooks_allowed())
    for name, value in changes.items():
        setattr(provider, name, value)
    session.add(provider)
    await session.flush()
    return provider


async def enable_webhooks(session: AsyncSession, provider_id: str) -> Provider:
    """Deliveries to an endpoint that a 410 disabled start again. Its events that failed meanwhile stay failed
    until ops redeliver them, each on its own (a failed grant.created's voided grant is reserved again then)."""
    provider = await _provider(session, provider_id)
    provider.webhook_disabled_at = None
    session.add(provider)
    await session.flush()
    return provider


async def rotate_secret(session: AsyncSession, provider_id: str, overlap_hours: int) -> tuple[Provider, str]:
    """A new secret; the old one keeps signing alongside it (two signatures) until the overlap ends."""
    provider = await _provider(session, provider_id)
    secret = signing.new_secret()
    provider.previous_webhook_secret = provider.webhook_secret
    provider.previous_secret_expires_at = utcnow() + timedelta(hours=overlap_hours)
    provider.webhook_secret = secret
    session.add(provider)
    await session.flush()
    return provider, secret


def live_secrets(provider: Provider | ProviderSecrets, now: datetime) -> list[str]:
    found = [provider.webhook_secret] if provider.webhook_secret else []
    expires = provider.previous_secret_expires_at
    if provider.previous_webhook_secret and expires and aware(expires) > now:
        found.append(provider.previous_webhook_secret)
    return found


async def _provider(session: AsyncSession, provider_id: str) -> Provider:
    return await get_or_404(session, Provider, provider_id, field="provider_id")
