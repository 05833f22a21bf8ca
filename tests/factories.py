"""Test data: a small real-shaped hierarchy built from squares (lon/lat near Yantian)."""

from __future__ import annotations

import factory
from django.contrib.gis.geos import MultiPolygon, Point, Polygon

from gridgov.accounts.models import Role, User
from gridgov.dispatch.models import Department
from gridgov.geo.models import Building, Community, District, Grid, ResponsibilityArea, Street
from gridgov.households.models import Household
from gridgov.teams.models import Member, MemberType

X0, Y0 = 114.20, 22.55


def box(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return Polygon(((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)), srid=4326)


def mbox(*args: float) -> MultiPolygon:
    return MultiPolygon(box(*args), srid=4326)


class DistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = District
        django_get_or_create = ("code",)

    code = "440308"
    name = "盐田区"
    boundary = factory.LazyFunction(lambda: mbox(X0, Y0, X0 + 0.1, Y0 + 0.1))


class StreetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Street
        django_get_or_create = ("code",)

    district = factory.SubFactory(DistrictFactory)
    code = factory.Sequence(lambda n: f"440308{n + 1:03d}")
    name = factory.Sequence(lambda n: f"街道{n}")
    boundary = factory.LazyFunction(lambda: mbox(X0, Y0, X0 + 0.1, Y0 + 0.1))


class CommunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Community

    street = factory.SubFactory(StreetFactory)
    code = factory.LazyAttributeSequence(lambda o, n: f"{o.street.code}{n + 1:03d}")
    name = factory.Sequence(lambda n: f"社区{n}")
    boundary = factory.LazyFunction(lambda: mbox(X0, Y0, X0 + 0.1, Y0 + 0.1))


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    community = factory.SubFactory(CommunityFactory)
    name = factory.Sequence(lambda n: f"网格员{n}")
    member_type = MemberType.RESIDENTS_REP


class GridFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Grid

    community = factory.SubFactory(CommunityFactory)
    code = factory.LazyAttributeSequence(lambda o, n: f"{o.community.code}{n + 1:03d}")
    name = factory.Sequence(lambda n: f"网格{n}")
    boundary = factory.LazyFunction(lambda: box(X0, Y0, X0 + 0.05, Y0 + 0.05))


class AreaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResponsibilityArea

    grid = factory.SubFactory(GridFactory)
    code = factory.LazyAttributeSequence(lambda o, n: f"{o.grid.code}{n % 99 + 1:02d}")
    name = factory.Sequence(lambda n: f"微网格{n}")
    boundary = factory.LazyAttribute(lambda o: o.grid.boundary)


class BuildingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Building

    community = factory.SubFactory(CommunityFactory)
    code = factory.Sequence(lambda n: f"B{n:06d}")
    address = factory.Sequence(lambda n: f"海山路{n}号")
    point = factory.LazyFunction(lambda: Point(X0 + 0.01, Y0 + 0.01, srid=4326))


class HouseholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Household

    community = factory.SubFactory(CommunityFactory)
    code = factory.Sequence(lambda n: f"H{n:07d}")
    address = factory.Sequence(lambda n: f"海山路1号{n}室")
    point = factory.LazyFunction(lambda: Point(X0 + 0.01, Y0 + 0.01, srid=4326))
    head_name = "张三丰"
    phone = "13812345678"
    id_number = "11010519491231002X"


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    district = factory.SubFactory(DistrictFactory)
    code = factory.Sequence(lambda n: f"D{n:03d}")
    name = factory.Sequence(lambda n: f"部门{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw")
    role = Role.ADMIN
    scope_code = ""


def client(world, who: str | None = None):
    """A browser-like test client, logged in as the `world` fixture's user `who` (anonymous for None)."""
    from django.test import Client

    c = Client()
    if who:
        c.force_login(world.users[who])
    return c
