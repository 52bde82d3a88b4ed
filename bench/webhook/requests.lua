-- wrk sends the benchmark's pre-signed requests (bench/webhook/run.py --generator wrk):
-- one per line of the file given after `--`, "path<TAB>signature<TAB>form body", in order.
local requests = {}
local sent = 0

function init(args)
  for line in io.lines(args[1]) do
    local path, signature, body = line:match("^([^\t]+)\t([^\t]*)\t(.*)$")
    local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
    if signature ~= "" then headers["X-Twilio-Signature"] = signature end
    if body == "" then
      requests[#requests + 1] = wrk.format("GET", path, {})
    else
      requests[#requests + 1] = wrk.format("POST", path, headers, body)
    end
  end
end

function request()
  sent = sent + 1
  -- Past the end the file starts again: run.py makes it long enough and checks the count.
  return requests[(sent - 1) % #requests + 1]
end
