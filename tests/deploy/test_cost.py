"""The price model of scripts/cost.py (the table in BENCHMARKS.md): S3 requests priced by their
class, CPU-bound compute that costs the same at any memory below one vCPU, latency-bound
compute that pays for its idle wait, and the prices file it reads."""

import json
import os
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import cost  # noqa: E402

with open(os.path.join(ROOT, "scripts", "prices.json")) as f:
    PRICES = json.load(f)


def cell(cpu_ms, **ops):
    return {"cpu_ms_per_object": cpu_ms, "requests_by_operation": ops,
            "requests_per_object": sum(ops.values())}


def priced(c, memory_mb, latency_ms=0.0, size=1024, batch=100, concurrency=32):
    return cost.price(PRICES, c, size, memory_mb, batch, concurrency, latency_ms, 1e12)


class PriceModel(unittest.TestCase):
    def test_get_and_put_tagging_cost_their_classes_and_delete_is_free(self):
        p = priced(cell(0.0, GetObject=1, PutObjectTagging=1, DeleteObject=1), 1024)
        self.assertAlmostEqual(p["s3"], 0.4 + 5.0)

    def test_cpu_bound_compute_costs_the_same_at_any_memory_below_one_vcpu(self):
        c = cell(1.0, GetObject=1)
        small, large = priced(c, 128), priced(c, 1024)
        self.assertAlmostEqual(small["lambda"], large["lambda"], places=6)
        self.assertAlmostEqual(small["wall_ms"], 1769 / 128)
        # Above one vCPU the object takes its CPU time and more memory is billed for it.
        self.assertGreater(priced(c, 3008)["lambda"], priced(c, 1769)["lambda"])

    def test_latency_bound_function_pays_its_wait_shared_by_the_objects_in_flight(self):
        c = cell(0.01, GetObject=1, PutObjectTagging=1)
        p = priced(c, 1769, latency_ms=40, concurrency=32)
        self.assertAlmostEqual(p["wall_ms"], 80 / 32)
        # A batch smaller than MAX_CONCURRENCY caps the objects in flight.
        self.assertAlmostEqual(priced(c, 1769, latency_ms=40, batch=10)["wall_ms"], 80 / 10)

    def test_peers_pay_the_same_s3_requests_and_their_own_prices(self):
        p = cost.peers(PRICES, 2**30)
        self.assertAlmostEqual(p["guardduty"], (0.09 + 0.215 / 1000 + 5.4e-6) * 1e6)
        self.assertEqual(len(p["clamav"]), 2)

    def test_tls_is_priced_as_http_plus_its_cost_per_request_on_an_open_connection(self):
        http = {"1 KB": cell(0.8, GetObject=1, PutObjectTagging=1)}
        cells, on = cost.priced_cells(http, {"per_request_ms": 0.05})
        self.assertAlmostEqual(cells["1 KB"]["cpu_ms_per_object"], 0.9)
        self.assertIn("TLS", on)
        # A noisy negative estimate adds nothing; without TLS figures, HTTP's are priced.
        self.assertEqual(cost.priced_cells(http, {"per_request_ms": -0.03})[0]["1 KB"]
                         ["cpu_ms_per_object"], 0.8)
        self.assertEqual(cost.priced_cells(http, None), (http, "http"))

    def test_the_prices_file_names_its_sources(self):
        for key in ("lambda", "s3", "events", "guardduty", "clamav"):
            self.assertIn(key, PRICES["sources"])


if __name__ == "__main__":
    unittest.main()
