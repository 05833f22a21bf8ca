"""Pages for community staff: run gridding, preview and adjust a plan on the map, approve, restore."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _

from gridgov.accounts import scoping
from gridgov.geo.models import Community

from .apis import can_edit, plans_for
from .models import GriddingPlan
from .texts import problem_rows, regrid_path_text


@login_required
def community_list(request: HttpRequest) -> HttpResponse:
    visible = plans_for(request.user).values_list("community_id", flat=True)
    scope = scoping.scope_of(request.user)
    communities = scoping.visible_nodes(request.user, Community.objects.all())
    if not scope.everything:
        communities = communities.filter(
            Q(pk__in=visible)
            | Q(code__in=[p for p in scope.prefixes if len(p) == 12])
            | Q(street__code__in=[p for p in scope.prefixes if len(p) == 9])
            | Q(street__district__code__in=[p for p in scope.prefixes if len(p) == 6])
        )
    communities = (
        communities.select_related("street")
        .annotate(
            grids_n=Count("grids", distinct=True),
            drafts=Count("gridding_plans", filter=Q(gridding_plans__status="draft"), distinct=True),
        )
        .order_by("code")
    )
    return render(request, "gridding/list.html", {"communities": communities})


@login_required
def community_page(request: HttpRequest, code: str) -> HttpResponse:
    community = get_object_or_404(scoping.visible_nodes(request.user, Community.objects.all()), code=code)
    if not scoping.in_scope_code(request.user, code) and not request.user.is_superuser:
        raise Http404
    plans = plans_for(request.user).filter(community=community).select_related("created_by", "approved_by")
    return render(
        request,
        "gridding/community.html",
        {
            "community": community,
            "plans": plans,
            "editable": can_edit(request.user, community),
        },
    )


@login_required
def plan_page(request: HttpRequest, pk: int) -> HttpResponse:
    plan = get_object_or_404(plans_for(request.user), pk=pk)
    labels = {
        "households": _("households"),
        "member": _("Member"),
        "none": _("unassigned"),
        "move": _("Move this building to the selected area"),
        "select": _("Select an area, then a building"),
        "moved": _("Moved."),
        "changed": _("Changed."),
        "out": _("out of range"),
        "pieces": _("in several pieces"),
        "approved": _("Approved: the plan is in force."),
        "failed": _("Failed"),
        "restored": _("A copy was made as a new draft."),
        "discarded": _("Discarded."),
        "selected": _("Selected area"),
        "split": _("Split in two"),
        "merge": _("Merge with…"),
        "merge_hint": _("Click the neighbouring area to merge into the selected one."),
        "applied": _("Alternative applied."),
        "apply": _("Apply"),
        "path_stored": _("the plan in force, unchanged"),
        "path_incremental": _("rebuilt around the change only"),
        "path_full": _("rebuilt in full"),
    }
    editable = can_edit(request.user, plan.community) and plan.status == GriddingPlan.Status.DRAFT
    return render(
        request,
        "gridding/plan.html",
        {
            "plan": plan,
            "editable": editable,
            "problem_rows": problem_rows(plan.problems, editable),
            "can_restore": can_edit(request.user, plan.community)
            and plan.status == GriddingPlan.Status.SUPERSEDED,
            "labels": labels,
            "problems": plan.problems,
            "quality": plan.quality,
            "regrid_path": regrid_path_text((plan.quality or {}).get("regrid_path", "")),
        },
    )
