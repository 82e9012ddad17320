"""The SYSPRO sandbox (e.net REST service): ``app`` (routes and business objects),
``auth`` (logon and sessions), ``schema`` (tables, keys, licences, fields), ``query``
(the XML in and out, and COMFND's ``Where``) and ``seed`` (the demo company and its
awkward records)."""
