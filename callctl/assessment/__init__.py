"""The monthly assessment (考核) as a service: schemes, inputs and outage days in
PostgreSQL, the assessment and reports over REST (arithmetic in ``kpi.assessment``)."""
