<?php

namespace App\Http\Controllers;

use Illuminate\Support\Facades\DB;
use Throwable;

class HealthController extends Controller
{
    /** 200 when the database answers; the queue's backlog and the worker's last job, to see it work. */
    public function __invoke()
    {
        try {
            $pending = DB::table('jobs')->count();
            $last = DB::table('logins')->max('processed_at');
        } catch (Throwable $e) {
            return response()->json(['status' => 'error', 'database' => $e->getMessage()], 503);
        }

        return response()->json([
            'status' => 'ok',
            'database' => 'ok',
            'queue' => ['pending' => $pending, 'last_processed_at' => $last],
        ]);
    }
}
