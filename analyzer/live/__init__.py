"""Live monitoring (`infertap-analyzer watch`, DESIGN.md section 13): the captures followed as they
land, profiled into steps, and the window checked against the baseline every step."""
