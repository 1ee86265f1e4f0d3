"""Instances (tenants) and users: creation, first-start bootstrap, and details."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caffebatch.errors import ConflictError, InvalidRequestError, NotFoundError
from caffebatch.service.context import ServiceContext
from caffebatch.service.crypto import SCRYPT_N, hash_password
from caffebatch.service.identity import Principal
from caffebatch.service.resources import InstanceInfo, UserInfo
from caffebatch.service.usage import Usage, usage_of
from caffebatch.store.tables import Instance, User


def create_instance(session: Session, name: str, plan: str) -> Instance:
    """A new, empty instance on `plan`."""
    instance = Instance(name=name, plan=plan)
    session.add(instance)
    session.flush()
    return instance


def create_user(
    session: Session, instance_id: str, username: str, password: str, *, scrypt_n: int = SCRYPT_N
) -> User:
    """A new user of `instance_id`, its password hashed at cost `scrypt_n` (the settings'
    `password_scrypt_n`); usernames are unique across the service."""
    if session.get(Instance, instance_id) is None:
        raise NotFoundError(f"no instance {instance_id!r}")
    if not username or not password:
        raise InvalidRequestError("a user needs a non-empty username and password")
    password_hash = hash_password(password, scrypt_n)
    user = User(instance_id=instance_id, username=username, password_hash=password_hash)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as error:
        raise ConflictError(f"user {username!r} already exists", code="user_exists") from error
    return user


@dataclass(frozen=True)
class Bootstrap:
    """What the first start created; `password` is set only when it was generated."""

    instance_id: str
    username: str
    password: str | None


def bootstrap(ctx: ServiceContext) -> Bootstrap | None:
    """On an empty store, create one instance and its first user from the settings."""
    settings = ctx.settings
    with ctx.db.session() as session:
        if session.scalar(select(func.count()).select_from(Instance)):
            return None
        given = settings.admin_password.get_secret_value() if settings.admin_password else None
        password = given or secrets.token_urlsafe(16)
        instance = create_instance(session, "default", settings.plan)
        create_user(
            session, instance.id, settings.admin_user, password,
            scrypt_n=settings.password_scrypt_n,
        )
        return Bootstrap(instance.id, settings.admin_user, None if given else password)


@dataclass(frozen=True)
class InstanceDetails:
    """An instance, its usage, and its owner: the first user, made with it (None once gone)."""

    instance: InstanceInfo
    usage: Usage
    owner: UserInfo | None


def get_instance(
    ctx: ServiceContext, session: Session, principal: Principal, instance_id: str
) -> InstanceDetails:
    """An instance and its usage, for a caller of that instance."""
    principal.require_instance(instance_id)
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFoundError(f"no instance {instance_id!r}")
    first = session.scalars(
        select(User).where(User.instance_id == instance_id).order_by(User.created_at, User.id)
    ).first()
    return InstanceDetails(
        InstanceInfo.of(instance),
        usage_of(session, ctx.settings, instance_id),
        None if first is None else UserInfo.of(first),
    )
