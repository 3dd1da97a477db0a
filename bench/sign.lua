-- wrk script: POST /uploads/sign with a fixed avatar request.
wrk.method = "POST"
wrk.body = '{"kind":"avatar","filename":"me.jpg","content_type":"image/jpeg","size":123456}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
