<?php

namespace App\Jobs;

use App\Models\Login;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/** Dispatched at each login; the queue worker (`php artisan queue:work`) writes the login down. */
class RecordLogin implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public function __construct(public int $userId, public ?string $ip)
    {
    }

    public function handle()
    {
        Login::create([
            'user_id' => $this->userId,
            'ip_address' => $this->ip,
            'worker_pid' => getmypid(),
            'worker' => getenv('WORKER_NAME') ?: gethostname(),
            'processed_at' => now(),
        ]);
    }
}
