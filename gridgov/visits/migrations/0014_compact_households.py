"""The household table written anew after 0013 filled the policy states (every row got a new version:
half of it was dead space): `VACUUM FULL`, outside a transaction (4.5 s at 1,000,000 households; reads
and writes of the table wait meanwhile)."""

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("visits", "0013_policy_state_on_household")]

    operations = [migrations.RunSQL("VACUUM FULL households_household", migrations.RunSQL.noop)]
