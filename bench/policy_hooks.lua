-- bench/policies.sh: an on_response and an on_log hook on every request, so
-- the measured cost covers all three hooks.
function on_response(req, res)
  res.set_header("x-bench-policy", tostring(res.status))
end

function on_log(req, record)
  record.metadata.bench_status = tostring(record.status)
end
